"""MarketSpec: exact conversions, off-grid errors, rounding in the caller's favour."""

from decimal import Decimal

import pytest

from dydx_router.domain.errors import (
    AmountTooLarge,
    InvalidAmount,
    InvalidOrder,
    PriceBelowMinimum,
    PriceNotOnTick,
    SizeBelowMinimum,
    SizeNotOnStep,
)
from dydx_router.domain.market import MarketSpec, Rounding, Side

# Mainnet genesis parameters (dydxopsdao/networks dydx-mainnet-1/genesis.json).
BTC = MarketSpec("BTC-USD", 0, -10, -9, 1_000_000, 100_000)
ETH = MarketSpec("ETH-USD", 1, -9, -9, 1_000_000, 100_000)
SOL = MarketSpec("SOL-USD", 5, -7, -9, 1_000_000, 1_000_000)
DOGE = MarketSpec("DOGE-USD", 10, -4, -9, 1_000_000, 1_000_000)


def test_step_and_tick_sizes_match_the_indexer_values() -> None:
    # The indexer reports these stepSize/tickSize strings for the genesis markets (§8).
    assert (BTC.step_size, BTC.tick_size) == (Decimal("0.0001"), Decimal("1"))
    assert (ETH.step_size, ETH.tick_size) == (Decimal("0.001"), Decimal("0.1"))
    assert (SOL.step_size, SOL.tick_size) == (Decimal("0.1"), Decimal("0.01"))
    assert (DOGE.step_size, DOGE.tick_size) == (Decimal("100"), Decimal("0.00001"))


@pytest.mark.parametrize(
    ("market", "size", "quantums"),
    [
        (BTC, "0.0003", 3_000_000),  # the official client's float path gives 2,000,000
        (BTC, "1", 10_000_000_000),
        (BTC, "0.00030000000000000000000000000000000000", 3_000_000),  # beyond Decimal precision
        (ETH, "0.001", 1_000_000),
        (SOL, "2.3", 23_000_000),
        (DOGE, "1E+3", 10_000_000),
    ],
)
def test_exact_sizes_convert_to_quantums(market: MarketSpec, size: str, quantums: int) -> None:
    assert market.to_quantums(Decimal(size)) == quantums
    assert market.size_of(quantums) == Decimal(size)


@pytest.mark.parametrize(
    ("market", "price", "subticks"),
    [
        (BTC, "50000", 5_000_000_000),
        (SOL, "0.29", 29_000_000),  # the official client's float path gives 28,000,000
        (ETH, "4.1", 4_100_000),  # … and 4,000,000 here
        (DOGE, "0.12345", 12_345_000_000),
    ],
)
def test_exact_prices_convert_to_subticks(market: MarketSpec, price: str, subticks: int) -> None:
    assert market.to_subticks(Decimal(price)) == subticks
    assert market.price_of(subticks) == Decimal(price)


def test_off_step_size_is_rejected_with_step_and_nearest_values() -> None:
    with pytest.raises(SizeNotOnStep) as exc:
        BTC.to_quantums(Decimal("0.00035"))
    assert exc.value.code == "invalid_size_step"
    assert str(exc.value) == (
        "size 0.00035 is not a multiple of BTC-USD's step size 0.0001; "
        "nearest valid sizes: 0.0003, 0.0004"
    )
    assert exc.value.details["step_size"] == "0.0001"
    assert exc.value.details["nearest"] == ["0.0003", "0.0004"]


def test_size_below_one_step_names_only_the_minimum() -> None:
    with pytest.raises(SizeNotOnStep) as exc:
        BTC.to_quantums(Decimal("0.00001"))
    assert exc.value.details["nearest"] == ["0.0001"]


def test_off_tick_price_is_rejected_with_tick_and_nearest_values() -> None:
    with pytest.raises(PriceNotOnTick) as exc:
        ETH.to_subticks(Decimal("3000.05"))
    assert exc.value.code == "invalid_price_tick"
    assert "tick size 0.1" in str(exc.value)
    assert exc.value.details["nearest"] == ["3000", "3000.1"]


def test_trigger_price_errors_name_the_field() -> None:
    with pytest.raises(PriceNotOnTick) as exc:
        ETH.to_subticks(Decimal("3000.05"), field="trigger_price")
    assert str(exc.value).startswith("trigger_price 3000.05 ")
    assert exc.value.details["field"] == "trigger_price"


def test_rounding_size_goes_down_but_never_to_zero() -> None:
    assert BTC.to_quantums(Decimal("0.00039"), Rounding.FAVOURABLE) == 3_000_000
    with pytest.raises(SizeBelowMinimum) as exc:
        BTC.to_quantums(Decimal("0.00009"), Rounding.FAVOURABLE)
    assert exc.value.details["minimum"] == "0.0001"


def test_rounding_price_favours_the_caller() -> None:
    # A buy never pays more than asked, a sell never receives less.
    assert ETH.to_subticks(Decimal("3000.05"), Rounding.FAVOURABLE, Side.BUY) == 3_000_000_000
    assert ETH.to_subticks(Decimal("3000.05"), Rounding.FAVOURABLE, Side.SELL) == 3_000_100_000
    # A sell below one tick rounds up to one tick; a buy below one tick has nowhere to go.
    assert ETH.to_subticks(Decimal("0.01"), Rounding.FAVOURABLE, Side.SELL) == 100_000
    with pytest.raises(PriceBelowMinimum):
        ETH.to_subticks(Decimal("0.01"), Rounding.FAVOURABLE, Side.BUY)


def test_rounding_leaves_on_grid_values_alone() -> None:
    assert ETH.to_subticks(Decimal("3000.1"), Rounding.FAVOURABLE, Side.SELL) == 3_000_100_000
    assert ETH.to_subticks(Decimal("3000.1"), Rounding.FAVOURABLE, Side.BUY) == 3_000_100_000


def test_price_rounding_without_a_side_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="side"):
        ETH.to_subticks(Decimal("3000.05"), Rounding.FAVOURABLE)


@pytest.mark.parametrize("bad", [0.0003, "0.0003", True, None])
def test_non_decimal_amounts_are_refused_by_type(bad: object) -> None:
    with pytest.raises(InvalidAmount, match="must be a Decimal"):
        BTC.to_quantums(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount, match="must be a Decimal"):
        BTC.to_subticks(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["0", "-0.0001", "NaN", "Infinity", "-Infinity", "sNaN"])
def test_non_positive_or_non_finite_amounts_are_refused(bad: str) -> None:
    with pytest.raises(InvalidAmount) as exc:
        BTC.to_quantums(Decimal(bad))
    assert exc.value.code == "invalid_amount"
    assert isinstance(exc.value, InvalidOrder)


def test_integer_amounts_are_exact_too() -> None:
    assert BTC.to_quantums(2) == 20_000_000_000
    assert BTC.to_subticks(50_000) == 5_000_000_000


def test_amounts_beyond_uint64_are_refused() -> None:
    with pytest.raises(AmountTooLarge):
        BTC.to_quantums(Decimal("2000000000"))  # 2e19 quantums > 2^64-1
    with pytest.raises(AmountTooLarge):
        DOGE.to_subticks(Decimal("1000000000"), field="price")


def test_quote_quantums_truncate_like_the_chain() -> None:
    # 0.0003 BTC at 50,000 = 15 USDC = 15,000,000 quote quantums.
    assert BTC.quote_quantums(3_000_000, 5_000_000_000) == 15_000_000
    # 1 SOL-step at 0.01 = 0.001 USDC: an exact 1,000 quantums.
    assert SOL.quote_quantums(1_000_000, 1_000_000) == 1_000
    # Truncation, not rounding: 1 quantum of BTC at 1 subtick is 1e-9 quote quantums -> 0.
    assert BTC.quote_quantums(1, 1) == 0


def test_invalid_market_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="step_base_quantums"):
        MarketSpec("X-USD", 99, -9, -9, 0, 1)
    with pytest.raises(ValueError, match="subticks_per_tick"):
        MarketSpec("X-USD", 99, -9, -9, 1, 0)
    with pytest.raises(ValueError, match="clob_pair_id"):
        MarketSpec("X-USD", -1, -9, -9, 1, 1)
