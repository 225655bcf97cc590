"""The MCP tools over streamable HTTP at ``/mcp`` on the router, for remote agents.

Every request must carry an API key as ``Authorization: Bearer <key>`` (the router's own
authentication: 401/403/429 as on any route). The tools then call the router's routes in-process
(httpx's ASGI transport, no socket) with that same key, so an agent reaches exactly what its key
reaches. Stateless (each POST carries its own call) and JSON answers: any replica can serve any
request, and nothing is held between requests but the preview tokens' signing secret
(``DYDX_ROUTER_MCP_PREVIEW_SECRET``, to be shared by replicas).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
from fastapi import FastAPI
from mcp.server.mcpserver import Context
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from dydx_router.api.auth import authenticate, bearer_token, require_token
from dydx_router.api.deps import get_services, resolve
from dydx_router.mcp.guard import McpSettings
from dydx_router.mcp.tools import build_server
from dydx_router_client import AsyncRouterClient

PATH = "/mcp"
# The in-process client's base URL: never resolved, the ASGI transport answers it.
INTERNAL_URL = "http://router.internal"


class _Endpoint:
    """An ASGI app (a class instance, so that Starlette's Route passes it scope/receive/send)."""

    def __init__(self, handle: Callable[[Scope, Receive, Send], object]) -> None:
        self._handle = handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        # Raises the router's ApiError (401/403/429), rendered by its error handlers.
        token = require_token(bearer_token(request.headers.get("authorization")))
        await authenticate(request, token, "read", resolve(request.app, get_services, request))
        await self._handle(scope, receive, send)  # type: ignore[misc]


def mount_mcp(
    app: FastAPI, settings: McpSettings | None = None
) -> Callable[[], AbstractAsyncContextManager[None]]:
    """Add ``/mcp`` to ``app``; the returned context manager must run in the app's lifespan."""
    transport = httpx.ASGITransport(app=app)

    @asynccontextmanager
    async def connect(ctx: Context) -> AsyncIterator[tuple[AsyncRouterClient, str]]:
        request = ctx.request_context.request
        headers = getattr(request, "headers", {})
        key = bearer_token(headers.get("authorization")) or ""
        async with AsyncRouterClient(INTERNAL_URL, key, transport=transport) as client:
            yield client, key

    server = build_server(connect, settings)
    # Bearer keys, not the browser's same-origin rule, protect this endpoint: the SDK's
    # DNS-rebinding check (Host must be localhost) would refuse every deployed host name.
    server.streamable_http_app(
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    manager = server.session_manager
    app.router.routes.append(
        Route(PATH, endpoint=_Endpoint(manager.handle_request), methods=["GET", "POST", "DELETE"])
    )
    return manager.run
