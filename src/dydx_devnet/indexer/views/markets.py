"""Perpetual markets and orderbooks (`perpetualMarketToResponseObject`,
`OrderbookLevelsToResponseObject`)."""

from __future__ import annotations

from decimal import Decimal

from dydx_devnet.indexer.fmt import dec, ppm
from dydx_devnet.indexer.records import (
    MarketRow,
)
from dydx_devnet.indexer.views.common import (
    JSON,
    MILLION,
    Tables,
    usdc,
)
from dydx_devnet.model import (
    ClobPairStatus,
    Market,
    MarketType,
)

_MARKET_STATUS = {
    ClobPairStatus.ACTIVE: "ACTIVE",
    ClobPairStatus.PAUSED: "PAUSED",
    ClobPairStatus.CANCEL_ONLY: "CANCEL_ONLY",
    ClobPairStatus.POST_ONLY: "POST_ONLY",
    ClobPairStatus.INITIALIZING: "INITIALIZING",
    ClobPairStatus.FINAL_SETTLEMENT: "FINAL_SETTLEMENT",
    ClobPairStatus.UNSPECIFIED: "PAUSED",
}


def open_interest(p: Tables, market: Market) -> Decimal:
    """Sum of long positions, as the chain's perpetual `open_interest`."""
    pid = market.perpetual.id
    total = 0
    for sub in p.subaccounts.values():
        pos = sub.open_positions.get(pid)
        if pos is not None and pos.size > 0:
            total += pos.size
    return market.size(total)


def market_stats(p: Tables, row: MarketRow) -> JSON:
    """The fields a trade changes (a `v4_markets` `trading` update)."""
    return {
        "volume24H": dec(sum((usdc(q) for _, _, q in row.trades), Decimal(0))),
        "trades24H": len(row.trades),
        "openInterest": dec(open_interest(p, row.market)),
    }


def market_response(p: Tables, row: MarketRow) -> JSON:
    """`perpetualMarketToResponseObject`."""
    m = row.market
    imf = m.liquidity_tier.initial_margin_ppm
    # `getMaintenanceMarginPpm`: initial margin * maintenance fraction.
    mmf = Decimal(imf) * Decimal(m.liquidity_tier.maintenance_fraction_ppm) / MILLION
    out: JSON = {
        "clobPairId": str(m.clob_pair_id),
        "ticker": m.ticker,
        "status": _MARKET_STATUS[m.clob_pair.status],
        "oraclePrice": dec(row.oracle_price),
        "priceChange24H": "0",
        "nextFundingRate": "0",
        "initialMarginFraction": ppm(imf),
        "maintenanceMarginFraction": dec(mmf / MILLION),
        "atomicResolution": m.atomic_resolution,
        "quantumConversionExponent": m.quantum_conversion_exponent,
        "tickSize": dec(m.tick_size),
        "stepSize": dec(m.step_size),
        "stepBaseQuantums": m.clob_pair.step_base_quantums,
        "subticksPerTick": m.clob_pair.subticks_per_tick,
        "marketType": "ISOLATED" if m.perpetual.market_type == MarketType.ISOLATED else "CROSS",
        "baseOpenInterest": "0",
        # `funding8HourValuePpmTo1HourRate`: the default rate is per 8 hours, in ppm.
        "defaultFundingRate1H": dec(Decimal(m.perpetual.default_funding_ppm) / 8 / MILLION),
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
