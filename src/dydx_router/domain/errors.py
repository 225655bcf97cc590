"""The catalogue of business errors, named for the condition: every error a use case or a rule
raises (the chain's own are in ``dydx_router.chain.errors``).

Each carries a stable machine-readable ``code``; the API layer maps error classes to HTTP
statuses in one table (``dydx_router.api.errors.STATUS_TABLE``, tested row by row in
tests/router/unit/api/test_error_table.py). Messages never contain secrets.
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


# ---- API keys ------------------------------------------------------------------------------------
class InvalidApiKeySpec(DomainError):
    code = "invalid_api_key_spec"


class ApiKeyNotFound(DomainError):
    code = "api_key_not_found"


class AgentLimitsNotFound(DomainError):
    """The API key has no agent limits to delete."""

    code = "agent_limits_not_found"


# ---- risk limits and the kill switch -------------------------------------------------------------
class RiskLimitBreached(DomainError):
    """An order would breach a limit; ``code`` names the limit, ``details`` its value."""

    code = "risk_limit_breached"


class TradingHalted(DomainError):
    code = "trading_halted"


class TradingReduceOnly(DomainError):
    code = "trading_reduce_only"


class AgentLimitBreached(DomainError):
    """An order would breach one of its API key's agent limits; ``code`` names the limit."""

    code = "agent_limit_breached"


class RiskDataUnavailable(DomainError):
    """A limit needs data the router does not have fresh (oracle price, position): fail closed."""

    code = "risk_data_unavailable"


# ---- the use cases: placing, cancelling, closing, reading ----------------------------------------
class IdempotencyConflict(DomainError):
    code = "idempotency_key_reused"


class IdempotencyInFlight(DomainError):
    """The first request with this key is still being processed (draft-ietf-httpapi-idempotency-
    key-header §2.7: 409 Conflict)."""

    code = "idempotency_in_flight"


class WithdrawnBeforeBroadcast(DomainError):
    """A cancel-all took a stateful order while it waited for the sequencer: never sent."""

    code = "order_withdrawn"


class NoPosition(DomainError):
    code = "no_position"


class SubaccountForbidden(DomainError):
    code = "subaccount_forbidden"


class OrderNotCancelable(DomainError):
    code = "order_not_cancelable"


class OrderInFlight(DomainError):
    """The order is still being placed; its status is the placement's to write."""

    code = "order_in_flight"


# ---- admin ---------------------------------------------------------------------------------------
class AdminScopeRestricted(DomainError):
    """A subaccount-restricted admin key tried an action that reaches beyond its subaccounts."""

    code = "admin_scope_restricted"


# ---- the chain's rate and the process's life -----------------------------------------------------
class ChainRateLimited(DomainError):
    code = "chain_rate_limited"


class ShuttingDown(DomainError):
    """This process is stopping: it takes no new writes (another replica, or a retry, will)."""

    code = "shutting_down"


# ---- what a listing or a selection asks for -----------------------------------------------------
class InvalidCursor(DomainError):
    """A page cursor this API did not return."""

    code = "invalid_cursor"


class InvalidStatusFilter(DomainError):
    code = "invalid_status"


class InvalidCancelSelector(DomainError):
    """A cancel of many orders names none, or more than one, of ids, market and all."""

    code = "invalid_cancel_selector"


class RiskLimitsNotFound(DomainError):
    code = "risk_limits_not_found"


# ---- the event stream (GET /v1/events, service/events.py) ----------------------------------------


class EventsExpired(DomainError):
    """The resume point is older than the retention window: events after it were deleted."""

    code = "event_id_expired"


class UnknownEventId(DomainError):
    """A resume point this log never issued (greater than any id)."""

    code = "unknown_event_id"
