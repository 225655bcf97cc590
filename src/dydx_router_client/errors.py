"""Every stable error ``code`` of the router as an exception class.

The wire body is ``{"error": {"code", "message", "details"?}}``. :func:`error_from_response`
picks the class registered for the code; an unknown code (a newer server) falls back to the class
of its HTTP status, so ``except RouterError`` always works and nothing is lost: ``code``,
``message``, ``details``, ``status`` and ``retry_after`` are on every instance.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx


class RouterError(Exception):
    """An error answer of the router (or of the client itself, ``status`` 0)."""

    code: ClassVar[str] = "router_error"

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.details = details or {}
        self.retry_after = retry_after
        if code is not None:
            self.code = code  # type: ignore[misc]  # an instance may carry a newer code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# --- families (by what the caller should do) ----------------------------------------------------
class InvalidRequest(RouterError):
    """400/422: the request itself is wrong; change it before sending it again."""


class Unauthenticated(RouterError):
    """401: no key, or an unknown or revoked one."""


class Forbidden(RouterError):
    """403: the key may not do this."""


class NotFound(RouterError):
    """404."""


class Conflict(RouterError):
    """409: the state of the order, the key or the trading switch refuses the request."""


class RateLimited(RouterError):
    """429: wait ``retry_after`` seconds."""


class Unavailable(RouterError):
    """5xx: the router or the chain could not answer now; retry later (``retry_after``)."""


class TransportError(Unavailable):
    """No answer at all (connection refused, reset or timed out), after the retries."""

    code = "transport_error"


class WaitTimeout(RouterError):
    """:meth:`wait_for` saw no wanted status within its timeout."""

    code = "wait_timeout"


class StreamGone(RouterError):
    """The event stream cannot resume from the last id (older than the retention window)."""

    code = "event_id_expired"


_FAMILY_CODES: dict[type[RouterError], tuple[str, ...]] = {
    InvalidRequest: (
        "invalid_request", "invalid_order", "invalid_size", "invalid_price_tick",
        "invalid_size_step", "invalid_amount", "invalid_cursor", "invalid_cancel_selector",
        "invalid_api_key_spec", "invalid_tx_input", "invalid_mnemonic", "invalid_encoding",
        "size_below_minimum", "price_below_minimum", "size_exceeds_position", "amount_too_large",
        "good_til_block_out_of_window", "unknown_market", "risk_limit_breached",
        "nesting_too_deep", "number_out_of_range", "payload_too_large", "method_not_allowed",
        "domain_error", "indexer_bad_request", "invalid_status", "unknown_event_id",
        # one per risk limit (domain/risk.py), beside the general risk_limit_breached
        "risk_max_order_size", "risk_max_order_notional", "risk_max_position_notional",
        "risk_max_open_orders", "risk_price_band_bps", "risk_max_slippage_bps",
        # the API key's own agent limits (docs/agents.md)
        "agent_limit_breached", "agent_market_not_allowed", "agent_max_order_notional",
        "agent_max_daily_notional", "agent_max_open_orders",
    ),
    Unauthenticated: ("unauthenticated", "invalid_api_key"),
    Forbidden: ("insufficient_scope", "subaccount_forbidden", "admin_scope_restricted"),
    NotFound: (
        "not_found", "order_not_found", "api_key_not_found", "no_position",
        "risk_limits_not_found", "indexer_not_found", "tx_not_found", "console_not_built",
        "agent_limits_not_found",
    ),
    Conflict: (
        "trading_halted", "trading_reduce_only", "idempotency_key_reused", "idempotency_in_flight",
        "order_not_cancelable", "order_in_flight", "duplicate_order", "concurrent_update",
        "illegal_status_transition", "account_not_found", "order_withdrawn",
        "sequence_mismatch", "timestamp_nonce_rejected", "chain_rejected", "authenticator_refused",
    ),
    RateLimited: ("rate_limited", "too_many_auth_failures", "chain_rate_limited"),
    Unavailable: (
        "internal_error", "database_unavailable", "risk_data_unavailable", "shutting_down",
        "chain_error", "chain_timeout", "chain_unavailable", "chain_query_failed",
        "height_unknown", "price_stale", "indexer_unavailable", "indexer_error",
        "indexer_response_invalid", "stream_closed", "http_error",
    ),
}  # fmt: skip


def _class_name(code: str) -> str:
    return "".join(part.capitalize() for part in code.split("_")) + "Error"


# One class per code, named after it (``trading_halted`` -> ``TradingHaltedError``), a subclass
# of its family: ``except Conflict`` or ``except TradingHaltedError``, as the caller prefers.
ERRORS: dict[str, type[RouterError]] = {}
for _family, _codes in _FAMILY_CODES.items():
    for _code in _codes:
        _cls = type(_class_name(_code), (_family,), {"code": _code, "__module__": __name__})
        ERRORS[_code] = _cls
        globals()[_cls.__name__] = _cls
ERRORS[StreamGone.code] = StreamGone  # GET /v1/events: 410 event_id_expired

_BY_STATUS: list[tuple[int, type[RouterError]]] = [
    (400, InvalidRequest), (401, Unauthenticated), (403, Forbidden), (404, NotFound),
    (409, Conflict), (410, StreamGone), (413, InvalidRequest), (422, InvalidRequest),
    (429, RateLimited),
]  # fmt: skip


def error_class(code: str, status: int) -> type[RouterError]:
    if code in ERRORS:
        return ERRORS[code]
    for s, cls in _BY_STATUS:
        if s == status:
            return cls
    return Unavailable if status >= 500 else RouterError


def retry_after_s(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (the router sends delta-seconds, never a date)."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_from_response(response: httpx.Response) -> RouterError:
    code, message = f"http_{response.status_code}", response.reason_phrase
    details: dict[str, Any] = {}
    try:
        body = response.json()
        error = body["error"]
        code, message = str(error["code"]), str(error["message"])
        details = error.get("details") or {}
    except (ValueError, KeyError, TypeError):
        pass
    cls = error_class(code, response.status_code)
    return cls(
        message,
        status=response.status_code,
        code=code,
        details=details,
        retry_after=retry_after_s(response),
    )
