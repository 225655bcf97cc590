"""The synchronous client: the same methods as :class:`AsyncRouterClient` (no event stream).

For callers without an event loop (scripts, notebooks, synchronous bots): its retry back-off and
``wait_for`` polling sleep with ``time.sleep``, which blocks only the caller's own thread. Code that
runs in an event loop uses :class:`AsyncRouterClient`, whose waits are ``asyncio.sleep``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self
from uuid import UUID

import httpx

from dydx_router_client import _core
from dydx_router_client._core import Call, RetryPolicy
from dydx_router_client.errors import WaitTimeout
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


class RouterClient:
    """``with RouterClient(url, api_key) as router: router.markets()``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 15.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(
            base_url=base_url,
            headers=_core.headers_for(api_key),
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: Call) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = self._http.request(
                    call.method, call.path, params=call.params, json=call.json, headers=call.headers
                )
            except httpx.TransportError as exc:
                outcome = exc
            step = _core.after_attempt(self.retry, call, attempt, outcome)
            if isinstance(step, httpx.Response):
                return step
            time.sleep(step)

    def markets(self) -> MarketsOut:
        return _core.parse(self._send(_core.MARKETS), MarketsOut)

    def positions(self, subaccount: int | None = None) -> PositionsOut:
        return _core.parse(self._send(_core.positions(subaccount)), PositionsOut)

    def trading_state(self) -> TradingStateOut:
        return _core.parse(self._send(_core.TRADING_STATE), TradingStateOut)

    def account(self) -> dict[str, Any]:
        return _core.parse_raw(self._send(_core.ACCOUNT))

    def fills(
        self,
        *,
        market: str | None = None,
        order_id: UUID | str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        call = _core.fills(market=market, order_id=order_id, limit=limit, cursor=cursor)
        return _core.parse_raw(self._send(call))

    def preview_order(self, order: PlaceOrderBody) -> DryRunOut:
        return _core.parse(self._send(_core.place(order, None, dry_run=True)), DryRunOut)

    def place_order(self, order: PlaceOrderBody, *, idempotency_key: str | None = None) -> OrderOut:
        call = _core.place(order, idempotency_key or _core.new_idempotency_key())
        return _core.parse(self._send(call), OrderOut)

    def get_order(self, order_id: UUID | str) -> OrderOut:
        return _core.parse(self._send(_core.get_order(order_id)), OrderOut)

    def list_orders(
        self,
        *,
        market: str | None = None,
        status: OrderStatus | str | Iterable[OrderStatus | str] | None = None,
        side: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> OrderPage:
        call = _core.list_orders(
            market=market, status=status, side=side, since=since, until=until, limit=limit,
            cursor=cursor,
        )  # fmt: skip
        return _core.parse(self._send(call), OrderPage)

    def cancel_order(self, order_id: UUID | str, *, reason: str | None = None) -> OrderOut:
        """Cancel one order; ``reason`` (one line) is stored with it and in the audit log."""
        return _core.parse(self._send(_core.cancel_order(order_id, reason)), OrderOut)

    def cancel_orders(
        self,
        *,
        ids: list[UUID] | None = None,
        market: str | None = None,
        all: bool = False,
        reason: str | None = None,
    ) -> CancelResult:
        body = CancelOrdersBody(ids=ids, market=market, all=all, reason=reason)
        return _core.parse(self._send(_core.cancel_many(body)), CancelResult)

    def close_position(
        self,
        market: str,
        *,
        size: Decimal | None = None,
        max_slippage_bps: int | None = None,
        subaccount: int | None = None,
        client_order_id: str | None = None,
        idempotency_key: str | None = None,
        reason: str | None = None,
    ) -> OrderOut:
        body = ClosePositionBody(
            size=size,
            max_slippage_bps=max_slippage_bps,
            subaccount=subaccount,
            client_order_id=client_order_id,
            reason=reason,
        )
        call = _core.close(market, body, idempotency_key or _core.new_idempotency_key())
        return _core.parse(self._send(call), OrderOut)

    def wait_for(
        self,
        order_id: UUID | str,
        statuses: Iterable[OrderStatus | str] = _core.FINAL_STATUSES,
        timeout: float = 30.0,
        *,
        poll_interval: float = 0.2,
    ) -> OrderOut:
        wanted = {OrderStatus(s) for s in statuses}
        deadline = time.monotonic() + timeout
        while True:
            order = self.get_order(order_id)
            if order.status in wanted:
                return order
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(
                    f"order {order_id} is {order.status.value} after {timeout:g} s, "
                    f"not one of {sorted(s.value for s in wanted)}",
                    details={"status": order.status.value},
                )
            time.sleep(min(poll_interval, left))
