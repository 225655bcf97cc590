"""Listing a subaccount's orders (`comlink/src/controllers/api/v4/orders-controller.ts`,
`listOrdersCommon`): Postgres rows and Redis orders merged, filtered, sorted, limited."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dydx_devnet.indexer import views
from dydx_devnet.indexer.projection import Projection
from dydx_devnet.indexer.records import CachedOrder, OrderRow, Status
from dydx_devnet.model import OrderFlags, Side, SubaccountId


@dataclass(frozen=True, slots=True)
class OrderQuery:
    clob_pair_id: int | None
    side: str | None
    type: str | None
    include_types: list[str] | None
    exclude_types: list[str] | None
    statuses: list[str] | None
    gtb_before_or_at: int | None
    gtb_after: int | None
    gtbt_before_or_at_ms: int | None
    gtbt_after_ms: int | None


def _expiry_ok(q: OrderQuery, gtb: int | None, gtbt_ms: int | None) -> bool:
    if q.gtb_before_or_at is not None or q.gtb_after is not None:
        if gtb is None:
            return False
        if q.gtb_before_or_at is not None and gtb > q.gtb_before_or_at:
            return False
        if q.gtb_after is not None and gtb <= q.gtb_after:
            return False
    if q.gtbt_before_or_at_ms is not None or q.gtbt_after_ms is not None:
        if gtbt_ms is None:
            return False
        if q.gtbt_before_or_at_ms is not None and gtbt_ms > q.gtbt_before_or_at_ms:
            return False
        if q.gtbt_after_ms is not None and gtbt_ms <= q.gtbt_after_ms:
            return False
    return True


def _gtb(order_flags: int, gtb: int, gtbt: int) -> tuple[int | None, int | None]:
    if order_flags == OrderFlags.SHORT_TERM:
        return gtb, None
    return None, gtbt * 1000


def _row_matches(q: OrderQuery, row: OrderRow) -> bool:
    """The Postgres query (`OrderTable.findAll`)."""
    o = row.order
    if q.clob_pair_id is not None and o.order_id.clob_pair_id != q.clob_pair_id:
        return False
    if q.side is not None and views.side_name(o.side) != q.side:
        return False
    if q.type is not None and row.type != q.type:
        return False
    if q.include_types is not None and row.type not in q.include_types:
        return False
    if q.exclude_types is not None and row.type in q.exclude_types:
        return False
    if q.statuses is not None and row.status not in q.statuses:
        return False
    return _expiry_ok(q, *_gtb(o.order_id.order_flags, o.good_til_block, o.good_til_block_time))


def _cached_matches(q: OrderQuery, entry: CachedOrder) -> bool:
    """`getRedisOrderMapForSubaccountIds`: Redis holds LIMIT orders only as far as the `type`
    filter is concerned; include/exclude types and statuses do not apply there."""
    o = entry.order
    if q.type is not None and q.type != "LIMIT":
        return False
    if q.clob_pair_id is not None and o.order_id.clob_pair_id != q.clob_pair_id:
        return False
    if q.side is not None and (o.side == Side.BUY) != (q.side == "BUY"):
        return False
    return _expiry_ok(q, *_gtb(o.order_id.order_flags, o.good_til_block, o.good_til_block_time))


def list_orders(
    p: Projection, sid: SubaccountId, q: OrderQuery, limit: int, ascending: bool
) -> list[dict[str, Any]]:
    """Postgres rows matching the query, merged with matching Redis orders (whose Postgres row,
    if any, decides the status); then the status filter on the merged result, the sort by
    expiry (`compareOrderResponses`: goodTilBlock orders before goodTilBlockTime ones when
    ascending) and the limit. Only the orders returned are rendered."""
    sub = p.pending_or_live(sid)
    if sub is None:
        return []
    found: list[tuple[tuple[int, int], OrderRow | None, CachedOrder | None]] = []
    for uid in sub.order_uuids:
        row, cached = p.rows.get(uid), p.cache.get(uid)
        if not (
            (row is not None and _row_matches(q, row))
            or (cached is not None and _cached_matches(q, cached))
        ):
            continue
        status = row.status if row is not None else Status.BEST_EFFORT_OPENED
        if q.statuses is not None and status not in q.statuses:
            continue
        # The response's expiry is Redis's when the order is there (a replacement moves it).
        live = cached.order if cached is not None else row.order  # type: ignore[union-attr]
        key = (
            (0, live.good_til_block)
            if live.order_id.order_flags == OrderFlags.SHORT_TERM
            else (1, live.good_til_block_time)
        )
        found.append((key, row, cached))
    found.sort(key=lambda f: f[0], reverse=not ascending)
    return [views.order_response(p, row, cached) for _, row, cached in found[:limit]]
