"""Collateral arithmetic of a subaccount, in quote quantums (USDC * 1e6).

Follows `protocol/x/subaccounts/keeper/subaccount.go` (GetNetCollateralAndMarginRequirements) and
`protocol/x/perpetuals/keeper/perpetual.go` (GetNetNotional, GetMarginRequirements), without the
open-interest scaling of the initial margin fraction (the genesis markets have no OI caps) and
without unsettled funding (the devnet's funding rate is zero).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dydx_devnet.model import QUOTE_ATOMIC_RESOLUTION, Market, MarketPrice

ONE_MILLION = 1_000_000
_POW10: list[int] = [10**i for i in range(64)]


def _mul_pow10(value: int, exp: int) -> int:
    """value * 10**exp, truncated toward zero (big.Int Quo)."""
    if exp >= 0:
        return value * _POW10[exp]
    q = abs(value) // _POW10[-exp]
    return q if value >= 0 else -q


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def net_notional(market: Market, price: MarketPrice, quantums: int) -> int:
    """Signed quote value of a position at the oracle price (`BaseToQuoteQuantums`)."""
    exp = market.atomic_resolution + price.exponent - QUOTE_ATOMIC_RESOLUTION
    return _mul_pow10(quantums * price.price, exp)


def initial_margin(market: Market, price: MarketPrice, quantums: int) -> int:
    notional = abs(net_notional(market, price, quantums))
    return _ceil_div(notional * market.liquidity_tier.initial_margin_ppm, ONE_MILLION)


def maintenance_margin(market: Market, price: MarketPrice, quantums: int) -> int:
    imr = initial_margin(market, price, quantums)
    return _ceil_div(imr * market.liquidity_tier.maintenance_fraction_ppm, ONE_MILLION)


@dataclass(frozen=True, slots=True)
class Risk:
    net_collateral: int  # TNC: USDC + sum of signed position notionals
    initial: int  # IMR
    maintenance: int  # MMR

    @property
    def is_initial_collateralized(self) -> bool:
        return self.net_collateral >= self.initial

    @property
    def free_collateral(self) -> int:
        return self.net_collateral - self.initial


def risk_of(
    usdc: int,
    positions: Iterable[tuple[int, int]],
    markets_by_perpetual: Mapping[int, Market],
    prices: Mapping[int, MarketPrice],
) -> Risk:
    """``positions`` are (perpetual id, signed quantums)."""
    nc, imr, mmr = usdc, 0, 0
    for perpetual_id, quantums in positions:
        if quantums == 0:
            continue
        market = markets_by_perpetual[perpetual_id]
        price = prices[market.market_param.id]
        nc += net_notional(market, price, quantums)
        imr += initial_margin(market, price, quantums)
        mmr += maintenance_margin(market, price, quantums)
    return Risk(nc, imr, mmr)


def is_valid_transition(old: Risk, new: Risk) -> bool:
    """Whether an update may be applied (`IsValidStateTransitionForUndercollateralizedSubaccount`
    in spirit): the new state meets its initial margin, or the subaccount was already below it
    and the update does not worsen its collateral-to-maintenance ratio."""
    if new.is_initial_collateralized:
        return True
    if old.is_initial_collateralized:
        return False
    if new.maintenance == 0:
        return new.net_collateral >= 0
    if old.maintenance == 0:
        return False
    # new.nc / new.mmr >= old.nc / old.mmr, cross-multiplied (both mmr > 0)
    return new.net_collateral * old.maintenance >= old.net_collateral * new.maintenance
