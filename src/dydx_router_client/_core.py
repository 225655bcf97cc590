"""What the sync and async clients share: the requests each method sends, and when to retry.

Retries: every request is retried after a transport failure (nothing, or no answer, came back),
a 429, a 5xx or a 409 ``idempotency_in_flight`` (an earlier attempt with the same key is still
being placed), at most ``max_attempts`` times in all, waiting ``Retry-After`` when the router
sends one and an exponential backoff otherwise. Placements and closes always carry an
``Idempotency-Key`` that stays the same across the retries, so a placement whose answer was lost
is answered by the order the first attempt placed (HTTP 200, a replay), never placed twice.
Cancels are safe to send twice (a second cancel of the same order changes nothing on the chain).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import httpx
from pydantic import BaseModel

from dydx_router_client.errors import TransportError, error_from_response, retry_after_s
from dydx_router_client.models import (
    CancelOrdersBody,
    CancelResult,
    ClosePositionBody,
    DryRunOut,
    MarketsOut,
    OrderOut,
    OrderPage,
    OrderStatus,
    PlaceOrderBody,
    PositionsOut,
    TradingStateOut,
)

M = TypeVar("M", bound=BaseModel)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# 409 with this code: a retry while the first attempt with the key is in flight (retried too).
IN_FLIGHT_CODE = "idempotency_in_flight"
FINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED}
)
USER_AGENT = "dydx-router-client/0.1"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_s: float = 0.2
    max_backoff_s: float = 5.0
    # A Retry-After longer than this is not waited out: the error is raised for the caller.
    max_retry_after_s: float = 30.0

    def delay(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to give up."""
        if attempt >= self.max_attempts:
            return None
        if response is not None:
            after = retry_after_s(response)
            if after is not None:
                return after if after <= self.max_retry_after_s else None
        base: float = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        return base * (0.5 + random.random() / 2)  # jitter, not a secret

    @staticmethod
    def retryable(response: httpx.Response) -> bool:
        if response.status_code == 409:
            # The first attempt with this Idempotency-Key is still being processed (its
            # answer was lost, the order is PENDING): the same request again answers it.
            return _error_code(response) == IN_FLIGHT_CODE
        return response.status_code in RETRY_STATUSES


def _error_code(response: httpx.Response) -> str | None:
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return code if isinstance(code, str) else None


def after_attempt(
    retry: RetryPolicy, call: Call, attempt: int, outcome: httpx.Response | httpx.TransportError
) -> httpx.Response | float:
    """What follows attempt ``attempt`` of ``call`` (the one retry rule of both clients): the
    response to return, or the seconds to wait before the next attempt. A transport failure with
    no attempt left raises :class:`TransportError`."""
    if isinstance(outcome, httpx.TransportError):
        wait = retry.delay(attempt, None)
        if wait is None:
            raise TransportError(f"{call.method} {call.path}: {outcome!r}") from outcome
        return wait
    if not retry.retryable(outcome):
        return outcome
    wait = retry.delay(attempt, outcome)
    return outcome if wait is None else wait


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: Mapping[str, str] | None = None
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


def new_idempotency_key() -> str:
    return f"rc-{uuid.uuid4()}"


def body_json(model: BaseModel) -> Any:
    # Decimals go out as JSON strings (the router refuses numbers for money: 0.1 is not 0.1).
    return model.model_dump(mode="json", exclude_none=True, exclude_defaults=False)


def place(order: PlaceOrderBody, idempotency_key: str | None, *, dry_run: bool = False) -> Call:
    headers = {} if dry_run else {"Idempotency-Key": idempotency_key or new_idempotency_key()}
    params = {"dry_run": "true"} if dry_run else None
    return Call("POST", "/v1/orders", params, body_json(order), headers)


def close(market: str, body: ClosePositionBody, idempotency_key: str | None) -> Call:
    headers = {"Idempotency-Key": idempotency_key or new_idempotency_key()}
    return Call("POST", f"/v1/positions/{market}/close", None, body_json(body), headers)


def list_orders(
    *,
    market: str | None,
    status: OrderStatus | str | Iterable[OrderStatus | str] | None,
    side: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> Call:
    params: dict[str, str] = {"limit": str(limit)}
    if status is not None:
        statuses = [status] if isinstance(status, str) else list(status)
        params["status"] = ",".join(str(getattr(s, "value", s)) for s in statuses)
    for name, value in (("market", market), ("side", side), ("cursor", cursor)):
        if value is not None:
            params[name] = str(getattr(value, "value", value))
    for name, moment in (("since", since), ("until", until)):
        if moment is not None:
            params[name] = moment.isoformat()
    return Call("GET", "/v1/orders", params)


def cancel_many(body: CancelOrdersBody) -> Call:
    return Call("POST", "/v1/orders/cancel", None, body_json(body))


def get_order(order_id: UUID | str) -> Call:
    return Call("GET", f"/v1/orders/{order_id}")


def cancel_order(order_id: UUID | str, reason: str | None = None) -> Call:
    return Call("DELETE", f"/v1/orders/{order_id}", None if reason is None else {"reason": reason})


def positions(subaccount: int | None) -> Call:
    return Call(
        "GET", "/v1/positions", None if subaccount is None else {"subaccount": str(subaccount)}
    )


MARKETS = Call("GET", "/v1/markets")
TRADING_STATE = Call("GET", "/v1/admin/trading-state")
ACCOUNT = Call("GET", "/v1/account")


def fills(
    *, market: str | None, order_id: UUID | str | None, limit: int, cursor: str | None
) -> Call:
    params = {"limit": str(limit)}
    for name, value in (("market", market), ("order_id", order_id), ("cursor", cursor)):
        if value is not None:
            params[name] = str(value)
    return Call("GET", "/v1/fills", params)


def parse(response: httpx.Response, model: type[M]) -> M:
    if response.is_success:
        return model.model_validate_json(response.content)
    raise error_from_response(response)


def parse_raw(response: httpx.Response) -> dict[str, Any]:
    if response.is_success:
        data: dict[str, Any] = response.json()
        return data
    raise error_from_response(response)


def headers_for(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT}


__all__ = [
    "CancelResult",
    "DryRunOut",
    "MarketsOut",
    "OrderOut",
    "OrderPage",
    "PositionsOut",
    "TradingStateOut",
]
