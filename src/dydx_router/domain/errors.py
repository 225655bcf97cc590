"""Domain errors, named for the condition.

Each carries a stable machine-readable ``code``; the API layer maps error classes to HTTP
statuses in one table (``dydx_router.api.errors``). Messages never contain secrets.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every business rule violation."""

    code: str = "domain_error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = details

    def __str__(self) -> str:
        return self.message


class InvalidOrder(DomainError):
    code = "invalid_order"


class UnknownMarket(DomainError):
    code = "unknown_market"


class OrderNotFound(DomainError):
    code = "order_not_found"


class IllegalTransition(DomainError):
    code = "illegal_status_transition"


# --- Market quantization (domain/market.py) --------------------------------------------------
# Every conversion failure is an InvalidOrder with a precise code, so the API can tell the caller
# exactly what to change; ``details`` carries the step/tick and the nearest valid values.


class InvalidAmount(InvalidOrder):
    """A size or price that is not a finite positive decimal (or is a float)."""

    code = "invalid_amount"


class SizeNotOnStep(InvalidOrder):
    code = "invalid_size_step"


class PriceNotOnTick(InvalidOrder):
    code = "invalid_price_tick"


class SizeBelowMinimum(InvalidOrder):
    code = "size_below_minimum"


class PriceBelowMinimum(InvalidOrder):
    code = "price_below_minimum"


class AmountTooLarge(InvalidOrder):
    """The chain stores quantums and subticks as uint64."""

    code = "amount_too_large"


class ConcurrentUpdate(DomainError):
    """The order's status changed under us; the caller re-reads and decides again."""

    code = "concurrent_update"


class DuplicateOrder(DomainError):
    """An order with the same chain OrderId or idempotency key already exists."""

    code = "duplicate_order"
