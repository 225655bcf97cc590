"""The client's event iterator against a small SSE server of our own (uvicorn, a real socket):
it resumes by itself with Last-Event-ID after the server drops the connection, and sees every
event once, in order. (The router's own /v1/events is tested with the router.)"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from dydx_router_client import AsyncRouterClient, FillEvent, OrderEvent, TradingStateEvent
from dydx_router_client import errors as client_errors

ORDER_ID = "5b2f6f5e-7d3c-4a8e-9a55-0d1f4f0c7f10"


def events() -> list[tuple[int, str, dict[str, object]]]:
    at = "2026-12-07T00:00:00Z"
    out: list[tuple[int, str, dict[str, object]]] = []
    for i in range(1, 8):
        if i % 3 == 0:
            out.append((i, "fill", {
                "order_id": ORDER_ID, "market": "BTC-USD", "side": "BUY", "price": "70000.5",
                "size": "0.001", "fee": "0.0175", "liquidity": "TAKER", "at": at,
            }))  # fmt: skip
        elif i == 7:
            out.append((i, "trading_state", {"state": "HALTED", "reason": "drill", "at": at}))
        else:
            out.append((i, "order", {
                "order_id": ORDER_ID, "client_order_id": None, "market": "BTC-USD",
                "side": "BUY", "status": "OPEN", "filled_size": f"0.00{i}",
                "average_fill_price": None, "subaccount_number": 0, "reason": "placed", "at": at,
            }))  # fmt: skip
    return out


class SseServer:
    def __init__(self) -> None:
        self.log = events()
        self.connections: list[str | None] = []
        self.drop_after = 2  # the first connection ends after two events

    async def stream(self, request: Request) -> Response:
        if request.headers.get("authorization") != "Bearer good":
            return JSONResponse({"error": {"code": "invalid_api_key", "message": "no"}}, 401)
        if request.headers.get("last-event-id") == "0":
            body = {"error": {"code": "some_expiry_code", "message": "older than retention"}}
            return JSONResponse(body, 410)
        last = request.headers.get("last-event-id")
        self.connections.append(last)
        after = int(last) if last else 0
        drop = self.drop_after if len(self.connections) == 1 else None

        async def body() -> AsyncIterator[str]:
            yield "retry: 50\n\n: heartbeat\n\n"
            sent = 0
            for ident, name, data in self.log:
                if ident <= after:
                    continue
                if drop is not None and sent == drop:
                    return  # the connection drops mid-stream
                yield f"id: {ident}\nevent: {name}\ndata: {json.dumps(data)}\n\n"
                sent += 1
            await asyncio.sleep(30)

        return StreamingResponse(body(), media_type="text/event-stream")


@pytest.fixture
async def sse_server() -> AsyncIterator[tuple[str, SseServer]]:
    state = SseServer()
    app = Starlette(routes=[Route("/v1/events", state.stream)])
    # Our own socket, bound before the server starts: a port picked, closed and handed on could
    # be taken meanwhile by another worker's server, which would then answer our requests.
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


async def test_stream_resumes_with_last_event_id_exactly_once_in_order(
    sse_server: tuple[str, SseServer],
) -> None:
    url, state = sse_server
    seen: list[OrderEvent | FillEvent | TradingStateEvent] = []
    async with AsyncRouterClient(url, "good") as client:
        async with asyncio.timeout(10):
            async for event in client.events():
                seen.append(event)
                if len(seen) == 7:
                    break
    assert [e.id for e in seen] == [1, 2, 3, 4, 5, 6, 7]
    assert state.connections == [None, "2"]  # one resume, from the last id received
    first, fill, last = seen[0], seen[2], seen[6]
    assert isinstance(first, OrderEvent) and first.filled_size == Decimal("0.001")
    assert isinstance(fill, FillEvent) and fill.price == Decimal("70000.5")
    assert isinstance(last, TradingStateEvent) and last.state.value == "HALTED"


async def test_stream_starts_after_a_given_id_and_raises_what_a_reconnect_cannot_cure(
    sse_server: tuple[str, SseServer],
) -> None:
    url, state = sse_server
    state.drop_after = 100
    async with AsyncRouterClient(url, "good") as client, asyncio.timeout(10):
        first = await anext(aiter(client.events(last_event_id=5)))
    assert first.id == 6 and state.connections == ["5"]
    async with AsyncRouterClient(url, "bad") as client, asyncio.timeout(10):
        with pytest.raises(client_errors.Unauthenticated):
            await anext(aiter(client.events()))
    async with AsyncRouterClient(url, "good") as client, asyncio.timeout(10):
        with pytest.raises(client_errors.StreamGone):  # an id past the retention window
            await anext(aiter(client.events(last_event_id=0)))


def test_a_stream_ended_before_its_first_event_resumes_where_the_server_says() -> None:
    from dydx_router_client.events import SseMessage, resume_point

    ended = SseMessage(event="error", data='{"code":"slow_reader","last_event_id":41}')
    assert resume_point(ended, None) == 41  # opened without an id: resume after the server's
    assert resume_point(ended, 57) == 57  # its own last id wins
    assert resume_point(SseMessage(event="order", data="{}", id="3"), None) is None
    assert resume_point(SseMessage(event="error", data="not json"), None) is None
