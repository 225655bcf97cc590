"""The field types of the API's bodies: decimals as bounded strings (never floats) in and out,
tickers, stored text, subaccount numbers and slippage (``api/schemas.py`` builds the bodies)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    StringConstraints,
)

from dydx_router.domain.market import format_decimal

MAX_DIGITS = 30
MAX_PLACES = 18
MAX_TEXT = 64
# The exponent is bounded before any arithmetic: Decimal stores "1e-99999999" in a few bytes, but
# arithmetic on it (normalize, quantize, scaling to chain units) can take time and memory
# exponential in the exponent, or raise decimal.Overflow. Nothing we accept needs more than
# MAX_PLACES places or MAX_DIGITS integer digits, so nothing further is ever computed.
MIN_EXPONENT = -(MAX_PLACES + MAX_TEXT)
_DECIMAL_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
MAX_EXPONENT = MAX_DIGITS


def _decimal_string(value: Any) -> Decimal:
    # Floats (JSON numbers) are refused: 0.1 is not 0.1 in binary.
    if not isinstance(value, str):
        raise ValueError('must be a decimal string, e.g. "0.001"')
    text = value.strip()
    if len(text) > MAX_TEXT or not _DECIMAL_TEXT.fullmatch(text):
        # ASCII digits only: Decimal() also reads "1_000", other scripts' digits, NaN, Infinity.
        raise ValueError('must be a decimal string, e.g. "0.001"')
    try:
        number = Decimal(text)  # parsing only: no arithmetic, whatever the exponent
    except InvalidOperation:
        raise ValueError('must be a decimal string, e.g. "0.001"') from None
    if not number.is_finite():
        raise ValueError("must be a finite decimal")
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    if not MIN_EXPONENT <= exponent <= MAX_EXPONENT:
        raise ValueError(f"out of range: at most {MAX_PLACES} decimal places, {MAX_DIGITS} digits")
    return number


def _bounded_positive(number: Decimal) -> Decimal:
    if number <= 0:
        raise ValueError("must be greater than 0")
    # Counted on the digits themselves: normalize() would round to the context's precision.
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    significant = "".join(map(str, digits)).lstrip("0")
    trimmed = significant.rstrip("0")
    exponent += len(significant) - len(trimmed)
    places = max(0, -exponent)
    if places > MAX_PLACES:
        raise ValueError(f"at most {MAX_PLACES} decimal places")
    if len(trimmed) + max(0, exponent) > MAX_DIGITS:
        raise ValueError(f"at most {MAX_DIGITS} significant digits")
    return number


PositiveDecimal = Annotated[
    Decimal,
    BeforeValidator(_decimal_string),
    AfterValidator(_bounded_positive),
    Field(
        json_schema_extra={
            "type": "string",
            "format": "decimal",
            "pattern": r"^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$",
            "example": "0.001",
        }
    ),
]
# "format": "decimal" tells a generated client (dydx_router_client) to read it as a Decimal.
DecimalOut = Annotated[
    Decimal,
    PlainSerializer(format_decimal, return_type=str),
    Field(json_schema_extra={"format": "decimal"}),
]
Ticker = Annotated[str, Field(pattern=r"^[A-Z0-9]{1,20}-[A-Z]{2,10}$", examples=["BTC-USD"])]
# Free text that is stored: PostgreSQL's text type cannot hold U+0000, so a NUL is refused here
# (422) instead of failing at the database.
StoredText = Annotated[str, Field(pattern=r"^[^\x00]*$")]
ClientOrderId = Annotated[StoredText, Field(min_length=1, max_length=64)]
SubaccountNumber = Annotated[int, Field(ge=0, le=128_000)]
SlippageBps = Annotated[int, Field(ge=1, le=5_000)]
# The caller's reason for an order or a cancel (an AI agent's "why"), stored with the order and
# in the audit log and shown to operators: one line of at most MAX_REASON characters, no
# control characters (a newline could forge a line in a log or a console).
MAX_REASON = 200
REASON_PATTERN = r"^[^\x00-\x1f\x7f]*$"
Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_REASON),
    Field(
        pattern=REASON_PATTERN,
        description="Why (one line, at most 200 characters): stored with the order and in the "
        "audit log, shown to operators.",
        examples=["momentum: BTC up 0.4% in 5 min, entering small"],
    ),
]
