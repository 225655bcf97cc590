"""Orders and fills (`comlink/src/request-helpers/request-transformer.ts`,
`postgres/src/types/websocket-message-types.ts`)."""

from __future__ import annotations

from dydx_devnet.indexer import ids
from dydx_devnet.indexer.fmt import dec, iso, iso_s
from dydx_devnet.indexer.records import (
    CachedOrder,
    FillRow,
    OrderRow,
    Status,
)
from dydx_devnet.indexer.views.common import (
    JSON,
    Tables,
    side_name,
    usdc,
)
from dydx_devnet.model import (
    Order,
    OrderFlags,
    TimeInForce,
)

# `protocolOrderTIFToTIF` then `orderTIFToAPITIF` (`postgres/src/lib/api-translations.ts`):
# POST_ONLY is reported as GTT with `postOnly: true`.
_API_TIF = {
    TimeInForce.UNSPECIFIED: "GTT",
    TimeInForce.IOC: "IOC",
    TimeInForce.POST_ONLY: "GTT",
    TimeInForce.FILL_OR_KILL: "FOK",
}


def _order_fields(p: Tables, order: Order) -> JSON:
    """The fields every order view shares, from the order as placed."""
    oid = order.order_id
    market = p.markets[oid.clob_pair_id].market
    out: JSON = {
        "id": _uuid_of(order),
        "subaccountId": ids.subaccount_uuid(oid.subaccount_id.owner, oid.subaccount_id.number),
        "clientId": str(oid.client_id),
        "clobPairId": str(oid.clob_pair_id),
        "side": side_name(order.side),
        "size": dec(market.size(order.quantums)),
        "price": dec(market.price(order.subticks)),
        "timeInForce": _API_TIF[order.time_in_force],
        "postOnly": order.time_in_force == TimeInForce.POST_ONLY,
        "reduceOnly": order.reduce_only,
        "orderFlags": str(oid.order_flags),
        "clientMetadata": str(order.client_metadata),
        "ticker": market.ticker,
    }
    if oid.order_flags == OrderFlags.SHORT_TERM:
        out["goodTilBlock"] = str(order.good_til_block)
    else:
        out["goodTilBlockTime"] = iso_s(order.good_til_block_time)
    return out


def _uuid_of(order: Order) -> str:
    oid = order.order_id
    s = oid.subaccount_id
    return ids.order_uuid(s.owner, s.number, oid.client_id, oid.clob_pair_id, oid.order_flags)


def _row_fields(p: Tables, row: OrderRow) -> JSON:
    market = p.markets[row.order.order_id.clob_pair_id].market
    out = _order_fields(p, row.order)
    out.update(
        totalFilled=dec(market.size(row.total_filled)),
        type=row.type,
        status=row.status,
        createdAtHeight=str(row.created_at_height),
        createdAt=iso(row.created_at),
        updatedAt=iso(row.updated_at),
        updatedAtHeight=str(row.updated_at_height),
    )
    if row.order.order_id.order_flags == OrderFlags.CONDITIONAL:
        out["triggerPrice"] = dec(market.price(row.order.conditional_order_trigger_subticks))
    return out


def order_response(p: Tables, row: OrderRow | None, cached: CachedOrder | None) -> JSON:
    """`postgresAndRedisOrderToResponseObject`: the Postgres row wins; Redis overrides the fields
    a replacement can change (size, price, expiry, TIF, reduce-only). Only Redis: the order is
    reported as BEST_EFFORT_OPENED, type LIMIT, totalFilled "0"."""
    if row is None:
        assert cached is not None
        out = _order_fields(p, cached.order)
        out.update(totalFilled="0", type="LIMIT", status=Status.BEST_EFFORT_OPENED)
    else:
        out = _row_fields(p, row)
        if cached is not None:
            live = _order_fields(p, cached.order)
            for key in ("size", "price", "timeInForce", "postOnly", "reduceOnly"):
                out[key] = live[key]
            out.pop("goodTilBlock", None)
            out.pop("goodTilBlockTime", None)
            for key in ("goodTilBlock", "goodTilBlockTime"):
                if key in live:
                    out[key] = live[key]
    sid = (row.order if row is not None else cached.order).order_id.subaccount_id  # type: ignore[union-attr]
    out["subaccountNumber"] = sid.number
    return out


def order_ws(
    p: Tables,
    row: OrderRow | None,
    cached: CachedOrder | None,
    *,
    status: str | None = None,
    removal_reason: str | None = None,
) -> JSON:
    """`OrderSubaccountMessageContents` (no `subaccountNumber`, optional `removalReason`)."""
    out = order_response(p, row, cached)
    del out["subaccountNumber"]
    if status is not None:
        out["status"] = status
    if removal_reason is not None:
        out["removalReason"] = f"ORDER_REMOVAL_REASON_{removal_reason}"
    return out


def fill_response(p: Tables, fill: FillRow) -> JSON:
    """`fillToResponseObject`: fee is what the subaccount paid (negative = rebate)."""
    market = p.markets[fill.clob_pair_id].market
    return {
        "id": fill.uuid,
        "side": side_name(fill.side),
        "liquidity": fill.liquidity.name,
        "type": "LIMIT",
        "market": market.ticker,
        "marketType": "PERPETUAL",
        "price": dec(market.price(fill.subticks)),
        "size": dec(market.size(fill.quantums)),
        "fee": dec(usdc(fill.fee_quote_quantums)),
        "affiliateRevShare": "0",
        "createdAt": iso(fill.created_at),
        "createdAtHeight": str(fill.created_at_height),
        "orderId": fill.order_uuid,
        "clientMetadata": str(fill.client_metadata),
        "subaccountNumber": fill.subaccount_id.number,
    }


def fill_ws(p: Tables, fill: FillRow) -> JSON:
    """`FillSubaccountMessageContents`."""
    market = p.markets[fill.clob_pair_id].market
    sid = fill.subaccount_id
    return {
        "id": fill.uuid,
        "subaccountId": ids.subaccount_uuid(sid.owner, sid.number),
        "side": side_name(fill.side),
        "liquidity": fill.liquidity.name,
        "type": "LIMIT",
        "clobPairId": str(fill.clob_pair_id),
        "size": dec(market.size(fill.quantums)),
        "price": dec(market.price(fill.subticks)),
        "quoteAmount": dec(usdc(fill.quote_quantums)),
        "eventId": fill.event_id.hex(),
        "transactionHash": fill.tx_hash,
        "createdAt": iso(fill.created_at),
        "createdAtHeight": str(fill.created_at_height),
        "orderId": fill.order_uuid,
        "ticker": market.ticker,
        "clientMetadata": str(fill.client_metadata),
    }
