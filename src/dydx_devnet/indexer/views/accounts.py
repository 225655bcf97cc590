"""Positions, subaccounts, historical PnL and transfers (`request-transformer.ts`,
`websocket-message-types.ts`)."""

from __future__ import annotations

from decimal import Decimal

from dydx_devnet.indexer import ids
from dydx_devnet.indexer.fmt import dec, iso
from dydx_devnet.indexer.records import (
    PnlTick,
    PositionRow,
    SubaccountRow,
    TransferRow,
)
from dydx_devnet.indexer.views.common import (
    JSON,
    MILLION,
    USDC_SYMBOL,
    Tables,
    position_market,
    usdc,
)
from dydx_devnet.model import (
    USDC_ASSET_ID,
    SubaccountId,
)


def unrealized_pnl(p: Tables, pos: PositionRow) -> Decimal:
    """`getUnrealizedPnl` (`postgres/src/db/helpers.ts`): size * (oracle - entry)."""
    m = position_market(p, pos)
    return m.market.size(pos.size) * (m.oracle_price - pos.entry_price)


def position_response(p: Tables, sub: SubaccountRow, pos: PositionRow) -> JSON:
    """`perpetualPositionToResponseObject`; `size` is signed (negative for SHORT)."""
    market = position_market(p, pos).market
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


def position_ws(p: Tables, sub: SubaccountRow, pos: PositionRow) -> JSON:
    """`PerpetualPositionSubaccountMessageContents`."""
    market = position_market(p, pos).market
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


def equity_and_free_collateral(p: Tables, sub: SubaccountRow) -> tuple[Decimal, Decimal]:
    """`calculateEquityAndFreeCollateral` (`comlink/src/lib/helpers.ts`): equity = USDC +
    sum(size * oracle); free collateral = equity - sum(|notional| * initial margin fraction)."""
    equity = usdc(sub.usdc_quantums)
    risk = Decimal(0)
    for pos in sub.open_positions.values():
        m = position_market(p, pos)
        notional = m.market.size(pos.size) * m.oracle_price
        equity += notional
        risk += abs(notional) * Decimal(m.market.liquidity_tier.initial_margin_ppm) / MILLION
    return equity, equity - risk


def subaccount_response(p: Tables, sub: SubaccountRow) -> JSON:
    """`getSubaccountResponse` / `subaccountToResponseObject`."""
    equity, free = equity_and_free_collateral(p, sub)
    assets = asset_position_response(sub)
    return {
        "address": sub.id.owner,
        "subaccountNumber": sub.id.number,
        "equity": dec(equity),
        "freeCollateral": dec(free),
        "openPerpetualPositions": {
            position_market(p, pos).market.ticker: position_response(p, sub, pos)
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
