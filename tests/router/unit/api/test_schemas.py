"""Hostile numbers are refused by the schema before any arithmetic, quickly (issue: one request
with "1e-99999999" froze the event loop in the scaling to chain units)."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from dydx_router.api.admin import RiskLimitsBody
from dydx_router.api.schemas import ClosePositionBody, PlaceOrderBody

ORDER = {"market": "BTC-USD", "side": "BUY", "type": "LIMIT", "size": "0.001", "price": "50000"}
HOSTILE = [
    "1e-99999999",
    "1E+999999999",
    "1e999999999",
    "-1e-999999999",
    "0e-99999999",
    "1e-19",
    "1e31",
    "NaN",
    "-NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    "1" * 31,
    "0." + "0" * 18 + "1",
    "9" * 65,
    "",
    " ",
    "0x10",
    "1_000",
    "١٢٣",  # Arabic-Indic digits: Decimal() would accept them
]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    ("model", "base", "field"),
    [
        (PlaceOrderBody, ORDER, "size"),
        (PlaceOrderBody, ORDER, "price"),
        (PlaceOrderBody, ORDER | {"type": "STOP_LIMIT"}, "trigger_price"),
        (ClosePositionBody, {}, "size"),
        (RiskLimitsBody, {}, "max_order_size"),
        (RiskLimitsBody, {}, "max_order_notional"),
        (RiskLimitsBody, {}, "max_position_notional"),
    ],
)
def test_every_decimal_input_refuses_hostile_numbers_fast(
    model: Any, base: dict[str, Any], field: str, value: str
) -> None:
    adapter = TypeAdapter(model)
    timings = []
    for _ in range(3):  # the best of three: a busy shared machine can pause any one of them
        start = time.perf_counter()
        with pytest.raises(ValidationError):
            adapter.validate_python(base | {field: value})
        timings.append(time.perf_counter() - start)
    assert min(timings) < 0.005, timings


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.000000000000000001", Decimal("1e-18")),
        ("1e-18", Decimal("1e-18")),
        ("1E+3", Decimal(1000)),
        ("123456789012345678901234567890", Decimal("123456789012345678901234567890")),
        ("1.500000000000000000000000000000000", Decimal("1.5")),
    ],
)
def test_ordinary_numbers_in_any_form_still_pass(text: str, value: Decimal) -> None:
    body = TypeAdapter(PlaceOrderBody).validate_python(ORDER | {"size": text})
    assert body.size == value
