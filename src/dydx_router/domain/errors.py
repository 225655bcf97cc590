"""Domain errors, named for the condition.

Each carries a stable machine-readable ``code``; the API layer maps error classes to HTTP statuses in
one table (``dydx_router.api.errors``). Messages never contain secrets.
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
