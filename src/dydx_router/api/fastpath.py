"""``POST /v1/orders`` without FastAPI's generic request machinery.

Placing orders is the route a trading system calls most, and the router's throughput is bound by
its one event loop. Profiled at saturation, FastAPI's per-request work around the endpoint
(routing through included routers, the exception middleware and exit stacks, the dependency solver
binding body, header, query and auth) cost about a quarter of the loop's time per order
(docs/performance.md). This middleware binds the endpoint's arguments itself and calls the *same*
endpoint function (``api/orders.py: place_order``), so there is one implementation and FastAPI
still documents the route.

It takes only requests it can bind exactly as FastAPI would: ``application/json``, no query
string, a well-formed ``Idempotency-Key`` (or none), a body that parses and validates. Anything
else (a malformed body, ``?dry_run=true``, another content type) is handed to FastAPI with the
body replayed, so validation errors keep their one canonical form. Authentication runs after the
body is validated, as FastAPI's solver would fail a request with a bad key first either way: a
request is authenticated (and charged a rate-limit token) exactly once.

The endpoint's dependencies (the caller, the services through ``api/deps.py``'s getters) are
resolved by ``deps.resolve`` as FastAPI's solver would, ``app.dependency_overrides`` included, so
a test's fakes reach this path too; a dependency it does not know fails the start-up (the
middleware stack is built before the lifespan runs) rather than being skipped. Errors after
binding go through the application's exception handlers (``api/errors.py``), looked up as
Starlette's exception middleware does; an error no handler covers propagates to the server error
middleware, as it would from the route.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dydx_router.api import orders
from dydx_router.api.auth import authenticate, bearer_token, require_token, require_trade
from dydx_router.api.deps import get_orders, get_services, resolve
from dydx_router.api.schemas import PlaceOrderBody

PATH = "/v1/orders"
_BODY = TypeAdapter(PlaceOrderBody)
_IDEMPOTENCY_KEY = re.compile(orders.IDEMPOTENCY_KEY_PATTERN)


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json"


class PlaceOrderFastPath:
    def __init__(self, app: ASGIApp, *, api: FastAPI) -> None:
        self.app = app
        self.api = api
        # The route object FastAPI would put in the scope: the access log and the metrics read
        # its path template.
        self.route = next(
            r
            for r in orders.router.routes
            if isinstance(r, APIRoute) and r.path == PATH and "POST" in (r.methods or ())
        )
        # The dependencies it resolves itself; any other would be skipped on the common request.
        resolved = {require_trade, get_orders}
        declared = {d.call for d in self.route.dependant.dependencies}
        if not declared <= resolved:
            raise RuntimeError(
                "place_order depends on something api/fastpath.py does not resolve: "
                + ", ".join(sorted(getattr(c, "__name__", repr(c)) for c in declared - resolved))
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
            or scope["query_string"]
        ):
            await self.app(scope, receive, send)
            return
        authorization: str | None = None
        idempotency_key: str | None = None
        json_body = False
        for name, value in scope["headers"]:
            if name == b"content-type":
                json_body = _is_json(value)
            elif name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"idempotency-key":
                idempotency_key = value.decode("latin-1")
        raw = await _read_body(receive)
        if raw is None:
            return  # the client went away mid-body: there is nobody to answer
        body = self._bind(raw, json_body, idempotency_key)
        if body is None:
            await self.app(scope, _replay(raw, receive), send)
            return
        scope["route"] = self.route
        request = Request(scope, receive, send)
        try:
            # The route's dependencies from where FastAPI would take them (api/deps.py),
            # overrides included.
            token = require_token(bearer_token(authorization))
            services = resolve(self.api, get_services, request)
            caller = await authenticate(request, token, "trade", services)
            service = resolve(self.api, get_orders, request)
            response = await orders.place_order(
                body, request, caller, service, idempotency_key=idempotency_key, dry_run=False
            )
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

    @staticmethod
    def _bind(raw: bytes, json_body: bool, idempotency_key: str | None) -> PlaceOrderBody | None:
        if not json_body:
            return None
        if idempotency_key is not None and not (
            len(idempotency_key) <= orders.IDEMPOTENCY_KEY_MAX
            and _IDEMPOTENCY_KEY.match(idempotency_key)
        ):
            return None
        try:
            # json.loads, then Python-mode validation: exactly FastAPI's reading of a JSON body.
            return _BODY.validate_python(json.loads(raw))
        except (ValueError, ValidationError, RecursionError, ArithmeticError):
            # JSONDecodeError and UnicodeDecodeError are ValueErrors; RecursionError is a body
            # nested too deep. FastAPI reads it again and answers 422 (api/errors.py).
            return None

    def _handler(self, exc: Exception) -> Any:
        handlers = self.api.exception_handlers
        for cls in type(exc).__mro__:
            if cls is Exception:
                return None  # the server error middleware's, as for any route
            if cls in handlers:
                return handlers[cls]
        return None


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None if the client disconnected before sending it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(raw: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the body already read, then the connection's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return replay
