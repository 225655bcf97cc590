"""Markets and exact conversion between human decimals and dYdX chain units.

The chain trades integers: an order's size is ``quantums`` (a multiple of ``step_base_quantums``)
and its price is ``subticks`` (a multiple of ``subticks_per_tick``). The formulas come from the
chain (``protocol/x/clob/types/quantums.go``, ``price_to_subticks.go``) and the indexer
(``indexer/packages/postgres/src/lib/protocol-translations.ts``)::

    size  = quantums × 10^atomic_resolution
    price = subticks × 10^(quantum_conversion_exponent − atomic_resolution − 6)

where 6 is minus USDC's atomic resolution (``QUOTE_CURRENCY_ATOMIC_RESOLUTION``).

Every conversion here is exact integer arithmetic on ``Decimal.as_integer_ratio()``: no float and no
``Decimal`` context (whose precision would round long inputs) is ever involved. The official Python
client floors binary floats and so loses a step or a tick on values such as BTC 0.0003
(v4-client-py-v2 ``dydx_v4_client/node/market.py``); that cannot happen here, and off-grid input is
never silently bumped up to one step the way that client does. The caller either gets exactly what
it asked for, or an error that names the step/tick and the nearest valid values, or (when it asks
for rounding) the nearest valid value on its own side: size down, a buy price down, a sell price up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from dydx_router.domain.errors import (
    AmountTooLarge,
    InvalidAmount,
    PriceBelowMinimum,
    PriceNotOnTick,
    SizeBelowMinimum,
    SizeNotOnStep,
)

# USDC, the quote asset of every perpetual (protocol/lib/constants.go,
# QuoteCurrencyAtomicResolution).
QUOTE_ATOMIC_RESOLUTION = -6
# Order.quantums and Order.subticks are uint64 (proto/dydxprotocol/clob/order.proto).
UINT64_MAX = 2**64 - 1
UINT32_MAX = 2**32 - 1


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class Rounding(StrEnum):
    """What to do with a size or price that is not on the market's grid."""

    #: Reject it, naming the step/tick and the nearest valid values.
    EXACT = "exact"
    #: Round in the caller's favour: size down; price down for a buy, up for a sell.
    #: Never produces zero: a size or buy price below one step/tick is still rejected.
    FAVOURABLE = "favourable"


class ClobPairStatus(StrEnum):
    """``ClobPair.Status`` (proto/dydxprotocol/clob/clob_pair.proto), without the STATUS_ prefix."""

    UNSPECIFIED = "UNSPECIFIED"
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    CANCEL_ONLY = "CANCEL_ONLY"
    POST_ONLY = "POST_ONLY"
    INITIALIZING = "INITIALIZING"
    FINAL_SETTLEMENT = "FINAL_SETTLEMENT"


def format_decimal(value: Decimal) -> str:
    """Plain notation without trailing zeros (``0.0003``, ``100``), never ``3E-4``."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _exact_ratio(value: Decimal | int, what: str) -> tuple[int, int]:
    # bool is an int subclass and float is the defect we exist to prevent: refuse both by type.
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise InvalidAmount(f"{what} must be a Decimal, not {type(value).__name__}", field=what)
    if isinstance(value, Decimal) and not value.is_finite():
        raise InvalidAmount(f"{what} must be a finite number", field=what)
    if value <= 0:
        raise InvalidAmount(f"{what} must be greater than zero", field=what)
    return value.as_integer_ratio()


def _pow10_ratio(numerator: int, denominator: int, exponent: int) -> tuple[int, int]:
    """(numerator/denominator) × 10^exponent, still as an exact ratio."""
    if exponent >= 0:
        return numerator * 10**exponent, denominator
    return numerator, denominator * 10**-exponent


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """One perpetual market's trading grid (a ClobPair joined with its Perpetual)."""

    ticker: str
    clob_pair_id: int
    atomic_resolution: int
    quantum_conversion_exponent: int
    step_base_quantums: int
    subticks_per_tick: int
    status: ClobPairStatus = ClobPairStatus.ACTIVE

    def __post_init__(self) -> None:
        if not 0 <= self.clob_pair_id <= UINT32_MAX:
            raise ValueError(f"{self.ticker}: clob_pair_id {self.clob_pair_id} is not a uint32")
        if not 0 < self.step_base_quantums <= UINT64_MAX:
            raise ValueError(f"{self.ticker}: step_base_quantums must be a positive uint64")
        if not 0 < self.subticks_per_tick <= UINT32_MAX:
            raise ValueError(f"{self.ticker}: subticks_per_tick must be a positive uint32")

    # --- exponents -------------------------------------------------------------------------

    @property
    def _price_exponent(self) -> int:
        """price = subticks × 10^this."""
        return self.quantum_conversion_exponent - self.atomic_resolution + QUOTE_ATOMIC_RESOLUTION

    # --- chain units -> human --------------------------------------------------------------

    def size_of(self, quantums: int) -> Decimal:
        """The human size of ``quantums`` (exact)."""
        # Decimal(str) is exact; arithmetic would go through the context and could round.
        return Decimal(f"{quantums}E{self.atomic_resolution}")

    def price_of(self, subticks: int) -> Decimal:
        """The human price of ``subticks`` (exact)."""
        return Decimal(f"{subticks}E{self._price_exponent}")

    @property
    def step_size(self) -> Decimal:
        return self.size_of(self.step_base_quantums)

    @property
    def tick_size(self) -> Decimal:
        return self.price_of(self.subticks_per_tick)

    # --- human -> chain units --------------------------------------------------------------

    def to_quantums(self, size: Decimal, rounding: Rounding = Rounding.EXACT) -> int:
        """Exact quantums for ``size``; off-step sizes are rejected or rounded down."""
        num, den = _pow10_ratio(*_exact_ratio(size, "size"), -self.atomic_resolution)
        step = self.step_base_quantums
        steps, rest = divmod(num, den * step)
        if rest:
            lower = steps * step
            if rounding is Rounding.EXACT:
                raise self._off_step(size, lower)
            if lower == 0:
                raise SizeBelowMinimum(
                    f"size {format_decimal(size)} is below {self.ticker}'s minimum order size "
                    f"(one step, {format_decimal(self.step_size)})",
                    field="size",
                    market=self.ticker,
                    step_size=format_decimal(self.step_size),
                    minimum=format_decimal(self.step_size),
                )
            quantums = lower
        else:
            quantums = steps * step
        if quantums > UINT64_MAX:
            raise AmountTooLarge(
                f"size {format_decimal(size)} exceeds the chain's uint64 quantums",
                field="size",
                market=self.ticker,
            )
        return quantums

    def to_subticks(
        self,
        price: Decimal,
        rounding: Rounding = Rounding.EXACT,
        side: Side | None = None,
        *,
        field: str = "price",
    ) -> int:
        """Exact subticks for ``price``; off-tick prices are rejected or rounded for ``side``.

        With ``Rounding.FAVOURABLE`` a buy price rounds down and a sell price rounds up, so the
        order is never more aggressive than the caller asked for.
        """
        num, den = _pow10_ratio(*_exact_ratio(price, field), -self._price_exponent)
        tick = self.subticks_per_tick
        ticks, rest = divmod(num, den * tick)
        if rest:
            lower = ticks * tick
            if rounding is Rounding.EXACT:
                raise self._off_tick(price, lower, field)
            if side is None:
                raise ValueError("rounding a price needs the order side")
            if side is Side.SELL:
                subticks = lower + tick
            elif lower == 0:
                raise PriceBelowMinimum(
                    f"{field} {format_decimal(price)} is below {self.ticker}'s tick size "
                    f"{format_decimal(self.tick_size)}",
                    field=field,
                    market=self.ticker,
                    tick_size=format_decimal(self.tick_size),
                    minimum=format_decimal(self.tick_size),
                )
            else:
                subticks = lower
        else:
            subticks = ticks * tick
        if subticks > UINT64_MAX:
            raise AmountTooLarge(
                f"{field} {format_decimal(price)} exceeds the chain's uint64 subticks",
                field=field,
                market=self.ticker,
            )
        return subticks

    def quote_quantums(self, quantums: int, subticks: int) -> int:
        """USDC quantums of a fill, truncated like the chain's ``FillAmountToQuoteQuantums``."""
        num, den = _pow10_ratio(quantums * subticks, 1, self.quantum_conversion_exponent)
        return num // den

    # --- errors ----------------------------------------------------------------------------

    def _nearest(self, lower: int, unit: int, to_human: Callable[[int], Decimal]) -> list[str]:
        values = [lower, lower + unit] if lower > 0 else [unit]
        return [format_decimal(to_human(v)) for v in values]

    def _off_step(self, size: Decimal, lower: int) -> SizeNotOnStep:
        nearest = self._nearest(lower, self.step_base_quantums, self.size_of)
        step = format_decimal(self.step_size)
        return SizeNotOnStep(
            f"size {format_decimal(size)} is not a multiple of {self.ticker}'s step size {step}; "
            f"nearest valid sizes: {', '.join(nearest)}",
            field="size",
            market=self.ticker,
            step_size=step,
            nearest=nearest,
        )

    def _off_tick(self, price: Decimal, lower: int, field: str) -> PriceNotOnTick:
        nearest = self._nearest(lower, self.subticks_per_tick, self.price_of)
        tick = format_decimal(self.tick_size)
        return PriceNotOnTick(
            f"{field} {format_decimal(price)} is not a multiple of {self.ticker}'s tick size "
            f"{tick}; nearest valid prices: {', '.join(nearest)}",
            field=field,
            market=self.ticker,
            tick_size=tick,
            nearest=nearest,
        )
