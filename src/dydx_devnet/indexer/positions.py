"""Ender's position bookkeeping: a subaccount's perpetual positions opened, resized, closed
(`dydx_subaccount_update_handler.sql`) and a fill's effect on their aggregates and realized PnL."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from dydx_devnet.events import Fill, FillSide
from dydx_devnet.indexer import ids
from dydx_devnet.indexer.records import PositionRow, SubaccountRow
from dydx_devnet.model import Market, Side, Subaccount


def apply_fill_to_position(
    sub: SubaccountRow, market: Market, fs: FillSide, ev: Fill, eid: bytes
) -> PositionRow:
    """Ender: the subaccount update opens/closes the position
    (`dydx_subaccount_update_handler.sql`), then the fill updates its aggregates
    (`dydx_update_perpetual_position_aggregate_fields.sql`) and realized PnL
    (`dydx_apply_fill_realized_effects.sql`)."""
    before = fs.position_quantums_before
    delta = ev.quantums if fs.side == Side.BUY else -ev.quantums
    set_position_size(sub, market.perpetual.id, before, ev.height, ev.time, eid)
    pos_before = sub.open_positions.get(market.perpetual.id)
    entry_before = pos_before.entry_price if pos_before is not None else Decimal(0)
    set_position_size(sub, market.perpetual.id, before + delta, ev.height, ev.time, eid)
    # The latest position for the perpetual (open, or just closed by this fill).
    pos = next(p for p in reversed(sub.positions) if p.perpetual_id == market.perpetual.id)
    price = market.price(ev.subticks)
    fee = Decimal(fs.fee_quote_quantums).scaleb(-6)
    increasing = (pos.side == "LONG") == (fs.side == Side.BUY)
    if increasing:
        pos.entry_price = weighted(pos.entry_price, pos.sum_open, price, ev.quantums)
        pos.sum_open += ev.quantums
    else:
        pos.exit_price = weighted(pos.exit_price or Decimal(0), pos.sum_close, price, ev.quantums)
        pos.sum_close += ev.quantums
    pnl = Decimal(0)
    if before != 0 and (before > 0) != (fs.side == Side.BUY):
        closing = market.size(min(ev.quantums, abs(before)))
        pnl = (price - entry_before) * closing if before > 0 else (entry_before - price) * closing
    target = pos_before if pos_before is not None else pos
    target.realized_pnl += pnl - fee
    return pos


def set_position_size(
    sub: SubaccountRow, perpetual_id: int, size: int, height: int, t: datetime,
    eid: bytes,
) -> PositionRow | None:  # fmt: skip
    """`dydx_subaccount_update_handler.sql`: close on zero or side change, else resize;
    open a new position when none is open or the side changed. Returns the changed row."""
    pos = sub.open_positions.get(perpetual_id)
    side = "LONG" if size > 0 else "SHORT"
    if pos is not None and pos.size == size:
        return None
    changed: PositionRow | None = None
    if pos is not None and (size == 0 or pos.side != side):
        pos.status, pos.size, pos.closed_at, pos.closed_at_height = "CLOSED", 0, t, height
        del sub.open_positions[perpetual_id]
        changed = pos
    elif pos is not None:
        pos.max_size = pos.max_size if pos.max_size >= size else size
        pos.size = size
        return pos
    if size != 0:
        new = PositionRow(
            ids.perpetual_position_uuid(sub.uuid, eid), perpetual_id, side, "OPEN", size, size,
            Decimal(0), None, 0, 0, Decimal(0), Decimal(0), t, height,
        )  # fmt: skip
        sub.open_positions[perpetual_id] = new
        sub.positions.append(new)
        changed = new
    return changed


def update_subaccount(
    row: SubaccountRow, snap: Subaccount, height: int, t: datetime, eid: bytes
) -> list[PositionRow]:
    row.usdc_quantums = snap.usdc_quantums
    row.updated_at_height, row.updated_at = height, t
    changed = []
    seen = set()
    for p in snap.perpetual_positions:
        seen.add(p.perpetual_id)
        c = set_position_size(row, p.perpetual_id, p.quantums, height, t, eid)
        if c is not None:
            changed.append(c)
    for pid in list(row.open_positions):
        if pid not in seen:
            c = set_position_size(row, pid, 0, height, t, eid)
            if c is not None:
                changed.append(c)
    return changed


def weighted(avg: Decimal, amount: int, price: Decimal, size: int) -> Decimal:
    """`dydx_get_weighted_average`: (avg*amount + price*size) / (amount + size), exact."""
    total = amount + size
    if total == 0:
        return Decimal(0)
    return (avg * amount + price * size) / total
