"""Response objects, built the way comlink and socks build them.

REST shapes follow `comlink/src/request-helpers/request-transformer.ts` and the OpenAPI spec
(`comlink/public/swagger.json`); websocket payloads follow
`postgres/src/types/websocket-message-types.ts`. Every amount is a decimal string in human
units (`fmt.dec`); heights are strings; the spec's integer fields stay JSON numbers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dydx_devnet.indexer import ids
from dydx_devnet.indexer.fmt import dec, iso, iso_s, ppm
from dydx_devnet.indexer.records import (
    CachedOrder,
    FillRow,
    MarketRow,
    OrderRow,
    PnlTick,
    PositionRow,
    Status,
    SubaccountRow,
    TransferRow,
)
from dydx_devnet.model import (
    USDC_ASSET_ID,
    ClobPairStatus,
    Market,
    MarketType,
    Order,
    OrderFlags,
    Side,
    SubaccountId,
    TimeInForce,
)

if TYPE_CHECKING:
    from dydx_devnet.indexer.projection import Projection

JSON = dict[str, Any]
USDC_SYMBOL = "USDC"
_MILLION = Decimal(1_000_000)

# `protocolOrderTIFToTIF` then `orderTIFToAPITIF` (`postgres/src/lib/api-translations.ts`):
# POST_ONLY is reported as GTT with `postOnly: true`.
_API_TIF = {
    TimeInForce.UNSPECIFIED: "GTT",
    TimeInForce.IOC: "IOC",
    TimeInForce.POST_ONLY: "GTT",
    TimeInForce.FILL_OR_KILL: "FOK",
}
_MARKET_STATUS = {
    ClobPairStatus.ACTIVE: "ACTIVE",
    ClobPairStatus.PAUSED: "PAUSED",
    ClobPairStatus.CANCEL_ONLY: "CANCEL_ONLY",
    ClobPairStatus.POST_ONLY: "POST_ONLY",
    ClobPairStatus.INITIALIZING: "INITIALIZING",
    ClobPairStatus.FINAL_SETTLEMENT: "FINAL_SETTLEMENT",
    ClobPairStatus.UNSPECIFIED: "PAUSED",
}


def usdc(quote_quantums: int) -> Decimal:
    return Decimal(quote_quantums).scaleb(-6)


def side_name(side: Side) -> str:
    return "BUY" if side == Side.BUY else "SELL"


# ---- orders ----------------------------------------------------------------------------------
def _order_fields(p: Projection, order: Order) -> JSON:
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


def _row_fields(p: Projection, row: OrderRow) -> JSON:
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


def order_response(p: Projection, row: OrderRow | None, cached: CachedOrder | None) -> JSON:
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
    p: Projection,
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


# ---- fills -----------------------------------------------------------------------------------
def fill_response(p: Projection, fill: FillRow) -> JSON:
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


def fill_ws(p: Projection, fill: FillRow) -> JSON:
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


# ---- positions and subaccounts ---------------------------------------------------------------
def _position_market(p: Projection, pos: PositionRow) -> MarketRow:
    return p.by_perpetual[pos.perpetual_id]


def unrealized_pnl(p: Projection, pos: PositionRow) -> Decimal:
    """`getUnrealizedPnl` (`postgres/src/db/helpers.ts`): size * (oracle - entry)."""
    m = _position_market(p, pos)
    return m.market.size(pos.size) * (m.oracle_price - pos.entry_price)


def position_response(p: Projection, sub: SubaccountRow, pos: PositionRow) -> JSON:
    """`perpetualPositionToResponseObject`; `size` is signed (negative for SHORT)."""
    market = _position_market(p, pos).market
    return {
        "market": market.ticker,
        "status": pos.status,
        "side": pos.side,
        "size": dec(market.size(pos.size)),
        "maxSize": dec(market.size(pos.max_size)),
        "entryPrice": dec(pos.entry_price),
        "exitPrice": None if pos.exit_price is None else dec(pos.exit_price),
        "realizedPnl": dec(pos.realized_pnl),
        "unrealizedPnl": dec(unrealized_pnl(p, pos)),
        "createdAt": iso(pos.created_at),
        "createdAtHeight": str(pos.created_at_height),
        "closedAt": None if pos.closed_at is None else iso(pos.closed_at),
        "sumOpen": dec(market.size(pos.sum_open)),
        "sumClose": dec(market.size(pos.sum_close)),
        "netFunding": dec(pos.net_funding),
        "subaccountNumber": sub.id.number,
    }


def position_ws(p: Projection, sub: SubaccountRow, pos: PositionRow) -> JSON:
    """`PerpetualPositionSubaccountMessageContents`."""
    market = _position_market(p, pos).market
    out: JSON = {
        "address": sub.id.owner,
        "subaccountNumber": sub.id.number,
        "positionId": pos.uuid,
        "market": market.ticker,
        "side": pos.side,
        "status": pos.status,
        "size": dec(market.size(pos.size)),
        "maxSize": dec(market.size(pos.max_size)),
        "netFunding": dec(pos.net_funding),
        "entryPrice": dec(pos.entry_price),
        "sumOpen": dec(market.size(pos.sum_open)),
        "sumClose": dec(market.size(pos.sum_close)),
        "realizedPnl": dec(pos.realized_pnl),
        "unrealizedPnl": dec(unrealized_pnl(p, pos)),
    }
    if pos.exit_price is not None:
        out["exitPrice"] = dec(pos.exit_price)
    return out


def asset_position_response(sub: SubaccountRow) -> JSON | None:
    """`assetPositionToResponseObject` for USDC; None when the balance is zero (comlink drops
    zero-size asset positions, `filterAssetPositions`)."""
    if sub.usdc_quantums == 0:
        return None
    return {
        "symbol": USDC_SYMBOL,
        "side": "LONG" if sub.usdc_quantums > 0 else "SHORT",
        "size": dec(usdc(abs(sub.usdc_quantums))),
        "assetId": str(USDC_ASSET_ID),
        "subaccountNumber": sub.id.number,
    }


def asset_positions_ws(sub: SubaccountRow) -> list[JSON]:
    """`AssetPositionSubaccountMessageContents` (sent even when the balance is zero)."""
    return [
        {
            "address": sub.id.owner,
            "subaccountNumber": sub.id.number,
            "positionId": ids._uuid(f"{sub.uuid}-{USDC_ASSET_ID}"),
            "assetId": str(USDC_ASSET_ID),
            "symbol": USDC_SYMBOL,
            "side": "LONG" if sub.usdc_quantums >= 0 else "SHORT",
            "size": dec(usdc(abs(sub.usdc_quantums))),
        }
    ]


def equity_and_free_collateral(p: Projection, sub: SubaccountRow) -> tuple[Decimal, Decimal]:
    """`calculateEquityAndFreeCollateral` (`comlink/src/lib/helpers.ts`): equity = USDC +
    sum(size * oracle); free collateral = equity - sum(|notional| * initial margin fraction)."""
    equity = usdc(sub.usdc_quantums)
    risk = Decimal(0)
    for pos in sub.open_positions.values():
        m = _position_market(p, pos)
        notional = m.market.size(pos.size) * m.oracle_price
        equity += notional
        risk += abs(notional) * Decimal(m.market.liquidity_tier.initial_margin_ppm) / _MILLION
    return equity, equity - risk


def subaccount_response(p: Projection, sub: SubaccountRow) -> JSON:
    """`getSubaccountResponse` / `subaccountToResponseObject`."""
    equity, free = equity_and_free_collateral(p, sub)
    assets = asset_position_response(sub)
    return {
        "address": sub.id.owner,
        "subaccountNumber": sub.id.number,
        "equity": dec(equity),
        "freeCollateral": dec(free),
        "openPerpetualPositions": {
            _position_market(p, pos).market.ticker: position_response(p, sub, pos)
            for pos in sub.open_positions.values()
        },
        "assetPositions": {} if assets is None else {USDC_SYMBOL: assets},
        # TODO(DEC-687) upstream: comlink always reports true.
        "marginEnabled": True,
        "updatedAtHeight": str(sub.updated_at_height),
        "latestProcessedBlockHeight": str(p.height or 0),
    }


def pnl_response(tick: PnlTick) -> JSON:
    return {
        "equity": dec(tick.equity),
        "totalPnl": dec(tick.total_pnl),
        "netTransfers": dec(tick.net_transfers),
        "createdAt": iso(tick.created_at),
        "blockHeight": str(tick.block_height),
        "blockTime": iso(tick.block_time),
    }


def _party(sid: SubaccountId | None, other: SubaccountId | None) -> JSON:
    # A deposit's sender (and a withdrawal's recipient) is the owner's wallet, not a subaccount.
    if sid is None:
        assert other is not None
        return {"address": other.owner}
    return {"address": sid.owner, "subaccountNumber": sid.number}


_TRANSFER_TYPES = {1: "DEPOSIT", 2: "TRANSFER", 3: "WITHDRAWAL"}


def transfer_type(tr: TransferRow, me: SubaccountId) -> str:
    kind = _TRANSFER_TYPES[int(tr.kind)]
    if kind == "TRANSFER":
        return "TRANSFER_OUT" if tr.sender == me else "TRANSFER_IN"
    return kind


def transfer_ws(tr: TransferRow, me: SubaccountId) -> JSON:
    """`TransferSubaccountMessageContents`."""
    return {
        "sender": _party(tr.sender, tr.recipient),
        "recipient": _party(tr.recipient, tr.sender),
        "symbol": USDC_SYMBOL,
        "size": dec(usdc(tr.quantums)),
        "type": transfer_type(tr, me),
        "transactionHash": tr.tx_hash,
        "createdAt": iso(tr.created_at),
        "createdAtHeight": str(tr.created_at_height),
    }


def transfer_response(tr: TransferRow, me: SubaccountId) -> JSON:
    """`transferToResponseObject`."""
    out = transfer_ws(tr, me)
    out["id"] = tr.uuid
    return out


# ---- markets -----------------------------------------------------------------------------------
def open_interest(p: Projection, market: Market) -> Decimal:
    """Sum of long positions, as the chain's perpetual `open_interest`."""
    pid = market.perpetual.id
    total = 0
    for sub in p.subaccounts.values():
        pos = sub.open_positions.get(pid)
        if pos is not None and pos.size > 0:
            total += pos.size
    return market.size(total)


def market_stats(p: Projection, row: MarketRow) -> JSON:
    """The fields a trade changes (a `v4_markets` `trading` update)."""
    return {
        "volume24H": dec(sum((usdc(q) for _, _, q in row.trades), Decimal(0))),
        "trades24H": len(row.trades),
        "openInterest": dec(open_interest(p, row.market)),
    }


def market_response(p: Projection, row: MarketRow) -> JSON:
    """`perpetualMarketToResponseObject`."""
    m = row.market
    imf = m.liquidity_tier.initial_margin_ppm
    # `getMaintenanceMarginPpm`: initial margin * maintenance fraction.
    mmf = Decimal(imf) * Decimal(m.liquidity_tier.maintenance_fraction_ppm) / _MILLION
    out: JSON = {
        "clobPairId": str(m.clob_pair_id),
        "ticker": m.ticker,
        "status": _MARKET_STATUS[m.clob_pair.status],
        "oraclePrice": dec(row.oracle_price),
        "priceChange24H": "0",
        "nextFundingRate": "0",
        "initialMarginFraction": ppm(imf),
        "maintenanceMarginFraction": dec(mmf / _MILLION),
        "atomicResolution": m.atomic_resolution,
        "quantumConversionExponent": m.quantum_conversion_exponent,
        "tickSize": dec(m.tick_size),
        "stepSize": dec(m.step_size),
        "stepBaseQuantums": m.clob_pair.step_base_quantums,
        "subticksPerTick": m.clob_pair.subticks_per_tick,
        "marketType": "ISOLATED" if m.perpetual.market_type == MarketType.ISOLATED else "CROSS",
        "baseOpenInterest": "0",
        # `funding8HourValuePpmTo1HourRate`: the default rate is per 8 hours, in ppm.
        "defaultFundingRate1H": dec(Decimal(m.perpetual.default_funding_ppm) / 8 / _MILLION),
    }
    out.update(market_stats(p, row))
    return out


def orderbook_response(row: MarketRow, levels_per_side: int) -> JSON:
    """`OrderbookLevelsToResponseObject`: bids best (highest) first, asks lowest first, empty
    levels dropped, at most `levels_per_side` each (`API_ORDERBOOK_LEVELS_PER_SIDE_LIMIT`)."""
    m = row.market
    bids = sorted(row.bids.items(), reverse=True)[:levels_per_side]
    asks = sorted(row.asks.items())[:levels_per_side]
    return {
        "bids": [{"price": dec(m.price(s)), "size": dec(m.size(q))} for s, q in bids if q > 0],
        "asks": [{"price": dec(m.price(s)), "size": dec(m.size(q))} for s, q in asks if q > 0],
    }
