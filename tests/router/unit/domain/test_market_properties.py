"""Quantization properties over every mainnet genesis market, against a Fraction oracle.

The oracle is the chain's formula written with exact rationals (v4-chain
protocol/x/clob/types/quantums.go, price_to_subticks.go):
``quantums = size × 10^-aR`` and ``subticks = price × 10^(aR − qce + 6)``; a value is valid iff
that rational is an integer multiple of the step (tick).
"""

import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dydx_router.domain.errors import (
    AmountTooLarge,
    PriceBelowMinimum,
    PriceNotOnTick,
    SizeBelowMinimum,
    SizeNotOnStep,
)
from dydx_router.domain.market import (
    UINT64_MAX,
    ClobPairStatus,
    MarketSpec,
    Rounding,
    Side,
    format_decimal,
)

# The clob pairs of the original mainnet genesis (dydxopsdao/networks
# ``dydx-mainnet-1/genesis.json``), written by ``scripts/upstream_fixtures.py``.
GENESIS = Path(__file__).resolve().parents[3] / "fixtures" / "data" / "mainnet_markets.json"


def _genesis_markets() -> list[MarketSpec]:
    return [
        MarketSpec(
            ticker=m["ticker"],
            clob_pair_id=m["clob_pair_id"],
            atomic_resolution=m["atomic_resolution"],
            quantum_conversion_exponent=m["quantum_conversion_exponent"],
            step_base_quantums=m["step_base_quantums"],
            subticks_per_tick=m["subticks_per_tick"],
            status=ClobPairStatus(m["status"].removeprefix("STATUS_")),
        )
        for m in json.loads(GENESIS.read_text())["markets"]
    ]


MARKETS = _genesis_markets()
MARKET_IDS = [m.ticker for m in MARKETS]


def test_every_genesis_market_is_covered() -> None:
    assert len(MARKETS) == 33
    assert {"BTC-USD", "ETH-USD", "SOL-USD", "DOGE-USD"} <= set(MARKET_IDS)


def _oracle_quantums(m: MarketSpec, size: Decimal) -> Fraction:
    return Fraction(size) * Fraction(10) ** -m.atomic_resolution


def _oracle_subticks(m: MarketSpec, price: Decimal) -> Fraction:
    return Fraction(price) * Fraction(10) ** (
        m.atomic_resolution - m.quantum_conversion_exponent + 6
    )


def _floor_multiple(x: Fraction, unit: int) -> int:
    return (x.numerator // (x.denominator * unit)) * unit


# Positive decimals of every scale: coefficient up to 22 digits, exponent -30..+12, written with
# arbitrary trailing zeros (0.0003 and 0.000300000 must behave the same).
positive_decimals = st.builds(
    lambda coeff, exp, zeros: Decimal(f"{coeff * 10**zeros}E{exp - zeros}"),
    st.integers(min_value=1, max_value=10**22),
    st.integers(min_value=-30, max_value=12),
    st.integers(min_value=0, max_value=8),
)
multiples = st.integers(min_value=1, max_value=10**13)
PROPS = settings(max_examples=60, deadline=None)


@pytest.mark.parametrize("m", MARKETS, ids=MARKET_IDS)
@PROPS
@given(k=multiples, zeros=st.integers(0, 6))
def test_every_step_multiple_round_trips(m: MarketSpec, k: int, zeros: int) -> None:
    quantums = k * m.step_base_quantums
    size = m.size_of(quantums)
    assert _oracle_quantums(m, size) == quantums
    padded = Decimal(
        f"{format_decimal(size)}{'' if '.' in format_decimal(size) else '.'}" + "0" * zeros
    )
    assert m.to_quantums(size) == m.to_quantums(padded) == quantums


@pytest.mark.parametrize("m", MARKETS, ids=MARKET_IDS)
@PROPS
@given(k=multiples)
def test_every_tick_multiple_round_trips(m: MarketSpec, k: int) -> None:
    subticks = k * m.subticks_per_tick
    price = m.price_of(subticks)
    assert _oracle_subticks(m, price) == subticks
    assert m.to_subticks(price) == subticks
    assert m.to_subticks(price, Rounding.FAVOURABLE, Side.BUY) == subticks
    assert m.to_subticks(price, Rounding.FAVOURABLE, Side.SELL) == subticks


@pytest.mark.parametrize("m", MARKETS, ids=MARKET_IDS)
@PROPS
@given(size=positive_decimals)
def test_size_to_quantums_matches_the_oracle(m: MarketSpec, size: Decimal) -> None:
    exact = _oracle_quantums(m, size)
    step = m.step_base_quantums
    lower = _floor_multiple(exact, step)
    on_grid = exact.denominator == 1 and exact.numerator % step == 0

    if on_grid and exact <= UINT64_MAX:
        assert m.to_quantums(size) == exact
        assert m.size_of(m.to_quantums(size)) == size
    elif on_grid:
        with pytest.raises(AmountTooLarge):
            m.to_quantums(size)
    else:
        with pytest.raises(SizeNotOnStep) as exc:
            m.to_quantums(size)
        expected = [lower, lower + step] if lower else [step]
        assert exc.value.details["nearest"] == [format_decimal(m.size_of(q)) for q in expected]
        assert exc.value.details["step_size"] == format_decimal(m.step_size)

    # Rounding: down to the step, never to zero, never up.
    if lower == 0:
        with pytest.raises(SizeBelowMinimum):
            m.to_quantums(size, Rounding.FAVOURABLE)
    elif lower > UINT64_MAX:
        with pytest.raises(AmountTooLarge):
            m.to_quantums(size, Rounding.FAVOURABLE)
    else:
        rounded = m.to_quantums(size, Rounding.FAVOURABLE)
        assert rounded == lower
        assert rounded % step == 0
        assert rounded <= exact < rounded + step


@pytest.mark.parametrize("m", MARKETS, ids=MARKET_IDS)
@PROPS
@given(price=positive_decimals)
def test_price_to_subticks_matches_the_oracle(m: MarketSpec, price: Decimal) -> None:
    exact = _oracle_subticks(m, price)
    tick = m.subticks_per_tick
    lower = _floor_multiple(exact, tick)
    on_grid = exact.denominator == 1 and exact.numerator % tick == 0
    upper = int(exact) if on_grid else lower + tick

    if on_grid and exact <= UINT64_MAX:
        assert m.to_subticks(price) == exact
        assert m.price_of(m.to_subticks(price)) == price
    elif not on_grid:
        with pytest.raises(PriceNotOnTick) as exc:
            m.to_subticks(price)
        expected = [lower, lower + tick] if lower else [tick]
        assert exc.value.details["nearest"] == [format_decimal(m.price_of(s)) for s in expected]

    # A buy never pays more than asked; a sell never receives less.
    if lower == 0:
        with pytest.raises(PriceBelowMinimum):
            m.to_subticks(price, Rounding.FAVOURABLE, Side.BUY)
    elif lower <= UINT64_MAX:
        buy = m.to_subticks(price, Rounding.FAVOURABLE, Side.BUY)
        assert buy == lower and m.price_of(buy) <= price
    if upper <= UINT64_MAX:
        sell = m.to_subticks(price, Rounding.FAVOURABLE, Side.SELL)
        assert sell == upper and m.price_of(sell) >= price and sell >= tick
    else:
        with pytest.raises(AmountTooLarge):
            m.to_subticks(price, Rounding.FAVOURABLE, Side.SELL)


@pytest.mark.parametrize("m", MARKETS, ids=MARKET_IDS)
@PROPS
@given(q=multiples, s=multiples)
def test_quote_quantums_truncate_the_exact_notional(m: MarketSpec, q: int, s: int) -> None:
    quantums, subticks = q * m.step_base_quantums, s * m.subticks_per_tick
    notional = Fraction(subticks * quantums) * Fraction(10) ** m.quantum_conversion_exponent
    assert m.quote_quantums(quantums, subticks) == notional.numerator // notional.denominator
    # The same notional in human units: size × price in USDC (6 decimals).
    human = Fraction(m.size_of(quantums)) * Fraction(m.price_of(subticks))
    assert notional == human * 10**6


@pytest.mark.parametrize("m", MARKETS, ids=MARKET_IDS)
def test_the_float_path_of_the_official_client_cannot_reach_us(m: MarketSpec) -> None:
    # The official quantizer floors ``float(size) * 10**-aR``; for a value such as 3 steps of BTC
    # (0.0003) that float is 2999999999.9999995 and the order loses a step. We refuse floats by
    # type and compute exactly, so three steps are always three steps.
    three_steps = m.size_of(3 * m.step_base_quantums)
    float_quantums = float(three_steps) * 10.0 ** (-m.atomic_resolution)
    assert m.to_quantums(three_steps) == 3 * m.step_base_quantums
    with pytest.raises(Exception, match="must be a Decimal"):
        m.to_quantums(float(three_steps))  # type: ignore[arg-type]
    if m.ticker == "BTC-USD":
        assert float_quantums < 3 * m.step_base_quantums  # the float path is short here
