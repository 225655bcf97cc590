"""The asynchronous client: every route as a typed method, the event stream, ``wait_for``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self
from uuid import UUID

import httpx

from dydx_router_client import _core
from dydx_router_client._core import Call, RetryPolicy
from dydx_router_client.errors import (
    Forbidden,
    InvalidRequest,
    NotFound,
    StreamGone,
    Unauthenticated,
    WaitTimeout,
    error_from_response,
)
from dydx_router_client.events import (
    FillEvent,
    OrderEvent,
    TradingStateEvent,
    decode,
    parse_sse,
    resume_point,
)
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

# Errors a reconnect cannot cure: the stream iterator raises them instead of retrying.
_FATAL_STREAM_ERRORS = (Unauthenticated, Forbidden, NotFound, InvalidRequest, StreamGone)


class AsyncRouterClient:
    """``async with AsyncRouterClient(url, api_key) as router: await router.markets()``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 15.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=_core.headers_for(api_key),
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: Call) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = await self._http.request(
                    call.method, call.path, params=call.params, json=call.json, headers=call.headers
                )
            except httpx.TransportError as exc:
                outcome = exc
            step = _core.after_attempt(self.retry, call, attempt, outcome)
            if isinstance(step, httpx.Response):
                return step
            await asyncio.sleep(step)

    # --- markets, positions, account ------------------------------------------------------------
    async def markets(self) -> MarketsOut:
        return _core.parse(await self._send(_core.MARKETS), MarketsOut)

    async def positions(self, subaccount: int | None = None) -> PositionsOut:
        return _core.parse(await self._send(_core.positions(subaccount)), PositionsOut)

    async def trading_state(self) -> TradingStateOut:
        """The kill switch (``GET /v1/admin/trading-state``: needs the ``admin`` scope)."""
        return _core.parse(await self._send(_core.TRADING_STATE), TradingStateOut)

    async def account(self) -> dict[str, Any]:
        """``GET /v1/account`` as JSON (typed once the route is in the committed OpenAPI)."""
        return _core.parse_raw(await self._send(_core.ACCOUNT))

    async def fills(
        self,
        *,
        market: str | None = None,
        order_id: UUID | str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/fills`` as JSON (typed once the route is in the committed OpenAPI)."""
        call = _core.fills(market=market, order_id=order_id, limit=limit, cursor=cursor)
        return _core.parse_raw(await self._send(call))

    # --- orders -----------------------------------------------------------------------------------
    async def preview_order(self, order: PlaceOrderBody) -> DryRunOut:
        """``?dry_run=true``: the quantized order and its chain id; nothing signed or sent."""
        return _core.parse(await self._send(_core.place(order, None, dry_run=True)), DryRunOut)

    async def place_order(
        self, order: PlaceOrderBody, *, idempotency_key: str | None = None
    ) -> OrderOut:
        """Placed (201), replayed (200) or UNKNOWN (202): read ``status``. The key (a new one
        unless given) is re-sent on every retry."""
        call = _core.place(order, idempotency_key or _core.new_idempotency_key())
        return _core.parse(await self._send(call), OrderOut)

    async def get_order(self, order_id: UUID | str) -> OrderOut:
        return _core.parse(await self._send(_core.get_order(order_id)), OrderOut)

    async def list_orders(
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
        return _core.parse(await self._send(call), OrderPage)

    async def cancel_order(self, order_id: UUID | str, *, reason: str | None = None) -> OrderOut:
        """Cancel one order; ``reason`` (one line) is stored with it and in the audit log."""
        return _core.parse(await self._send(_core.cancel_order(order_id, reason)), OrderOut)

    async def cancel_orders(
        self,
        *,
        ids: list[UUID] | None = None,
        market: str | None = None,
        all: bool = False,
        reason: str | None = None,
    ) -> CancelResult:
        body = CancelOrdersBody(ids=ids, market=market, all=all, reason=reason)
        return _core.parse(await self._send(_core.cancel_many(body)), CancelResult)

    async def close_position(
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
        return _core.parse(await self._send(call), OrderOut)

    async def wait_for(
        self,
        order_id: UUID | str,
        statuses: Iterable[OrderStatus | str] = _core.FINAL_STATUSES,
        timeout: float = 30.0,  # noqa: ASYNC109 - the documented signature, as the sync one
        *,
        poll_interval: float = 0.2,
    ) -> OrderOut:
        """The order once its status is one of ``statuses`` (final ones by default); raises
        :class:`WaitTimeout` (with the last status seen) after ``timeout`` seconds."""
        wanted = {OrderStatus(s) for s in statuses}
        deadline = time.monotonic() + timeout
        while True:
            order = await self.get_order(order_id)
            if order.status in wanted:
                return order
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(
                    f"order {order_id} is {order.status.value} after {timeout:g} s, "
                    f"not one of {sorted(s.value for s in wanted)}",
                    details={"status": order.status.value},
                )
            await asyncio.sleep(min(poll_interval, left))

    # --- the event stream -----------------------------------------------------------------------
    async def events(
        self,
        *,
        market: str | None = None,
        order_id: UUID | str | None = None,
        last_event_id: int | None = None,
        reconnect_delay_s: float = 0.5,
    ) -> AsyncIterator[OrderEvent | FillEvent | TradingStateEvent]:
        """Every event, in order, forever: after a dropped connection it reconnects by itself
        with ``Last-Event-ID`` so that no event is missed or seen twice. Errors a reconnect cannot
        cure (a revoked key, an id older than the retention window) are raised."""
        params = {k: str(v) for k, v in (("market", market), ("order_id", order_id)) if v}
        last = last_event_id
        delay = reconnect_delay_s
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if last is not None:
                headers["Last-Event-ID"] = str(last)
            try:
                async with self._http.stream(
                    "GET",
                    "/v1/events",
                    params=params,
                    headers=headers,
                    timeout=httpx.Timeout(self._http.timeout.connect, read=None),
                ) as response:
                    if not response.is_success:
                        await response.aread()
                        error = error_from_response(response)
                        if isinstance(error, _FATAL_STREAM_ERRORS):
                            raise error
                        wait = error.retry_after
                        await asyncio.sleep(wait if wait is not None else delay)
                        continue
                    failures = 0
                    async for message in parse_sse(response.aiter_lines()):
                        if message.retry_ms is not None:
                            delay = message.retry_ms / 1000
                        event = decode(message)
                        if message.id is not None and message.id.isdigit():
                            last = int(message.id)
                        last = resume_point(message, last)
                        if event is not None:
                            yield event
            except httpx.TransportError:
                failures += 1
            # The server closed the stream or the connection dropped: resume after `last`.
            await asyncio.sleep(min(delay * max(1, failures), 10.0))
