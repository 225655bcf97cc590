"""One table from error class to HTTP status, and the one handler that renders every error as
``{"error": {"code": ..., "message": ..., "details"?: ...}}`` inside RFC 9457 problem details
(``api/problem.py``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from dydx_router.api.problem import ProblemResponse
from dydx_router.chain import errors as chain
from dydx_router.chain.resilience import retry_after_header
from dydx_router.domain import errors as domain
from dydx_router.observability.redact import REDACTOR
from dydx_router.service.idempotency import IN_FLIGHT_RETRY_AFTER_S
from dydx_router.service.ports import DatabaseUnavailable, StoreFailures


class ApiError(Exception):
    """An error raised by the transport layer itself (auth, rate limits, unavailability)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.details = details


# Most specific first: the first matching class wins. Chain errors are 502/503/504 unless they
# describe the caller's account (AccountNotFound) or a definitive rejection.
STATUS_TABLE: list[tuple[type[Exception], int]] = [
    (domain.OrderNotFound, 404),
    (domain.ApiKeyNotFound, 404),
    (domain.RiskLimitsNotFound, 404),
    (domain.AgentLimitsNotFound, 404),
    # A Last-Event-ID older than the retention: gone for good (RFC 9110 §15.5.11).
    (domain.EventsExpired, 410),
    (domain.UnknownEventId, 400),
    (domain.NoPosition, 404),
    (domain.SubaccountForbidden, 403),
    (domain.AdminScopeRestricted, 403),
    (domain.TradingHalted, 409),
    (domain.TradingReduceOnly, 409),
    (domain.RiskLimitBreached, 400),
    (domain.AgentLimitBreached, 400),
    (domain.RiskDataUnavailable, 503),
    (domain.ShuttingDown, 503),
    (domain.ChainRateLimited, 429),
    # A key re-used with another body: 422 (draft-ietf-httpapi-idempotency-key-header §2.7).
    (domain.IdempotencyConflict, 422),
    # The first request with the key still in flight: 409, retry after Retry-After (§2.7).
    (domain.IdempotencyInFlight, 409),
    (domain.OrderNotCancelable, 409),
    (domain.OrderInFlight, 409),
    (domain.DuplicateOrder, 409),
    (domain.ConcurrentUpdate, 409),
    (domain.IllegalTransition, 409),
    (domain.UnknownMarket, 400),
    (domain.InvalidApiKeySpec, 400),
    (domain.InvalidOrder, 400),
    (domain.DomainError, 400),
    (chain.AccountNotFound, 409),
    (chain.ChainTimeout, 504),
    (chain.ChainUnavailable, 503),
    (chain.HeightUnknown, 503),
    (chain.PriceStale, 503),
    (chain.IndexerUnavailable, 503),
    (chain.InvalidTxInput, 400),
    (chain.ChainError, 502),
]
# Statuses that tell the caller to come back later.
RETRY_AFTER_S = {503: "1", 504: "1"}
# Errors of other statuses that tell the caller when to come back.
RETRY_AFTER_BY_CLASS: dict[type[Exception], str] = {
    domain.IdempotencyInFlight: str(IN_FLIGHT_RETRY_AFTER_S),
}


def status_for(exc: Exception) -> int:
    for cls, status in STATUS_TABLE:
        if isinstance(exc, cls):
            return status
    return 500


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error}


# Errors that a hostile body, not a fault of ours, raises while it is read or computed with.
UNPARSABLE_BODY = (RecursionError, UnicodeDecodeError, ArithmeticError)
# json.loads refuses a JSON integer longer than sys.get_int_max_str_digits() (4,300 digits) with a
# bare ValueError of this message (CPython's int max str digits limit, CVE-2020-10735).
_HUGE_INTEGER = "for integer string conversion"


def is_unparsable_body(exc: BaseException) -> bool:
    return isinstance(exc, UNPARSABLE_BODY) or (
        type(exc) is ValueError and _HUGE_INTEGER in str(exc)
    )


def unparsable_body(exc: BaseException) -> ProblemResponse:
    """422 with a stable code for a body that cannot be read or computed with."""
    if isinstance(exc, RecursionError):
        code, message = "nesting_too_deep", "the body is nested too deeply"
    elif isinstance(exc, UnicodeDecodeError):
        code, message = "invalid_encoding", "the body is not UTF-8"
    else:  # ArithmeticError, or an integer too long to convert
        code, message = "number_out_of_range", "a number in the request is out of range"
    return ProblemResponse(error_body(code, message), 422)


def install_error_handlers(app: FastAPI, store_failures: StoreFailures | None = None) -> None:
    """Render every error; ``store_failures`` (the store's, from the composition root) says which
    driver errors mean the database is unreachable (503), beyond `DatabaseUnavailable`."""
    failures = store_failures or StoreFailures()

    async def api_error(_: Request, exc: Exception) -> ProblemResponse:
        assert isinstance(exc, ApiError)
        return ProblemResponse(
            error_body(exc.code, exc.message, exc.details), exc.status, headers=exc.headers
        )

    async def domain_error(_: Request, exc: Exception) -> ProblemResponse:
        assert isinstance(exc, domain.DomainError)
        status = status_for(exc)
        retry = (
            str(exc.details.get("retry_after_s", 1))
            if status == 429
            else RETRY_AFTER_S.get(status) or RETRY_AFTER_BY_CLASS.get(type(exc))
        )
        return ProblemResponse(
            error_body(exc.code, exc.message, exc.details),
            status,
            headers={"Retry-After": retry} if retry else None,
        )

    async def chain_error(_: Request, exc: Exception) -> ProblemResponse:
        assert isinstance(exc, chain.ChainError)
        status = status_for(exc)
        retry = RETRY_AFTER_S.get(status)
        if retry and "retry_after_s" in exc.details:  # every endpoint's breaker open
            retry = retry_after_header(float(exc.details["retry_after_s"]))
        return ProblemResponse(
            error_body(exc.code, exc.message, exc.details),
            status,
            headers={"Retry-After": retry} if retry else None,
        )

    async def validation_error(_: Request, exc: Exception) -> ProblemResponse:
        assert isinstance(exc, RequestValidationError)
        # Field names come from the caller and are echoed back: the log redactor's rules apply,
        # so a secret pasted into a request never comes back in a response.
        problems = [
            {
                "field": REDACTOR.text(".".join(str(p) for p in err.get("loc", ()) if p != "body")),
                "problem": REDACTOR.text(str(err.get("msg", ""))),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        return ProblemResponse(
            error_body("invalid_request", "the request is malformed", {"errors": problems}), 422
        )

    async def http_error(_: Request, exc: Exception) -> ProblemResponse:
        assert isinstance(exc, StarletteHTTPException)
        cause = exc.__cause__
        if exc.status_code == 400 and cause is not None and is_unparsable_body(cause):
            # FastAPI answers a body json.loads cannot read (nested too deep, not UTF-8, an
            # integer of more than 4,300 digits) with a bare 400; it is a malformed payload like
            # any other.
            return unparsable_body(cause)
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return ProblemResponse(
            error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers
        )

    async def database_down(request: Request, exc: Exception) -> ProblemResponse:
        # PostgreSQL unreachable or its connection lost (store/uow.py raises DatabaseUnavailable;
        # a raw driver error can come from code that uses the pool directly).
        if not failures.is_unreachable(exc):
            return await unexpected(request, exc)
        message = str(exc) if isinstance(exc, DatabaseUnavailable) else "database unreachable"
        return ProblemResponse(
            error_body(DatabaseUnavailable.code, f"the database is unavailable: {message}"),
            503,
            headers={"Retry-After": RETRY_AFTER_S[503]},
        )

    async def hostile_input(_: Request, exc: Exception) -> ProblemResponse:
        # Inputs are bounded before any arithmetic (api/schemas.py); this is the backstop, so
        # that an input no bound foresaw is still refused, never a 500 or a dropped connection.
        return unparsable_body(exc)

    async def unexpected(_: Request, exc: Exception) -> ProblemResponse:
        # The message of an unexpected error may hold anything; never echo it to the caller.
        return ProblemResponse(error_body("internal_error", "internal server error"), 500)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(domain.DomainError, domain_error)
    app.add_exception_handler(chain.ChainError, chain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ArithmeticError, hostile_input)
    app.add_exception_handler(RecursionError, hostile_input)
    for cls in failures.classes:
        app.add_exception_handler(cls, database_down)
    app.add_exception_handler(Exception, unexpected)
