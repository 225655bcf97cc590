"""How the indexer writes numbers and times on the wire.

The real indexer computes amounts with big.js and prints them with `Big#toFixed()` (plain
notation, no exponent, no trailing zeros: `protocol-translations.ts`, `request-transformer.ts`),
and times with luxon's `toISO()` in UTC (millisecond precision, `Z`). Amounts here are exact
`Decimal`s built from chain integers, never floats.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

_ZERO = Decimal(0)
_PPM = Decimal(1_000_000)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def dec(value: Decimal) -> str:
    """`Big#toFixed()`: "0.0003", "100", "-1.5"; never "1E+2", "0.00030" or "-0"."""
    if value == _ZERO:
        return "0"
    return format(value.normalize(), "f")


def ppm(value: int) -> str:
    """Parts-per-million as a decimal string (`helpers.ppmToString`): 50000 -> "0.05"."""
    return dec(Decimal(value) / _PPM)


def iso_ms(unix_ms: int) -> str:
    """Unix milliseconds as the indexer's ISO string, e.g. "2026-11-24T10:00:00.000Z"."""
    t = _EPOCH + timedelta(milliseconds=unix_ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def iso(t: datetime) -> str:
    """A datetime as the indexer's ISO string (UTC, milliseconds, `Z`)."""
    u = t.astimezone(UTC)
    return u.strftime("%Y-%m-%dT%H:%M:%S.") + f"{u.microsecond // 1000:03d}Z"


def iso_s(unix_s: int) -> str:
    """Whole unix seconds (e.g. `good_til_block_time`) as an ISO string."""
    return iso_ms(unix_s * 1000)


def to_ms(t: datetime) -> int:
    """A datetime as unix milliseconds, exactly."""
    return (t - _EPOCH) // timedelta(milliseconds=1)


def parse_iso_ms(text: str) -> int:
    """An ISO-8601 timestamp (as accepted by express-validator's `isISO8601`) to unix ms.

    Raises ValueError when the text is not ISO-8601."""
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return (t - _EPOCH) // timedelta(milliseconds=1)
