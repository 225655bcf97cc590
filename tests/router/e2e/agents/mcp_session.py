"""Open an MCP client session (the `mcp` SDK's own client) on the router, over stdio
(`dydx-router mcp` as a subprocess) or over streamable HTTP (`/mcp` on the router)."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.fixtures.router import ROOT, RouterProcess

TRANSPORTS = ["stdio", "http"]


def stdio_log() -> Path:
    """Where the stdio server's stderr (its log) goes."""
    return ROOT / ".local" / f"test-mcp-stdio-{os.getpid()}.log"


@asynccontextmanager
async def open_session(
    router: RouterProcess, transport: str, key: str | None = None, env: dict[str, str] | None = None
) -> AsyncIterator[ClientSession]:
    api_key = key or router.api_key
    if transport == "stdio":
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "dydx_router.cli", "mcp"],
            env={
                "DYDX_ROUTER_URL": router.url,
                "DYDX_ROUTER_API_KEY": api_key,
                "PATH": os.environ.get("PATH", ""),
                **(env or {}),
            },
            cwd=ROOT,
        )
        errlog = stdio_log().open("a")
        try:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                yield session
        finally:
            errlog.close()
    else:
        headers = {"Authorization": f"Bearer {api_key}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            streamable_http_client(router.url + "/mcp", http_client=http) as (r, w),
            ClientSession(r, w) as session,
        ):
            await session.initialize()
            yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """The tool's structured result; fails the test on a refusal."""
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, f"{tool}: {result.content}"
    data: dict[str, Any] = result.structured_content
    return data


async def refused(session: ClientSession, tool: str, **arguments: Any) -> str:
    """The refusal's text; fails the test if the tool succeeded."""
    result = await session.call_tool(tool, arguments)
    assert result.is_error, f"{tool} was not refused: {result.structured_content}"
    return " ".join(getattr(block, "text", "") for block in result.content)


async def wait_status(
    session: ClientSession, order_id: str, wanted: set[str], within_s: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while True:
        order = await call(session, "get_order", order_id=order_id)
        if order["status"] in wanted or time.monotonic() > deadline:
            return order
        await _sleep(0.2)


async def _sleep(seconds: float) -> None:
    import anyio

    await anyio.sleep(seconds)


async def market(session: ClientSession, ticker: str) -> dict[str, Any]:
    markets = (await call(session, "list_markets"))["markets"]
    found: dict[str, Any] = next(m for m in markets if m["market"] == ticker)
    return found


def dec(value: Any) -> Decimal:
    return Decimal(str(value))


def resource_json(contents: Any) -> Any:
    return json.loads(contents.contents[0].text)
