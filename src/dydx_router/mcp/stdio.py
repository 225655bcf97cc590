"""``dydx-router mcp``: the MCP server over stdio, for a desktop assistant.

It reads ``DYDX_ROUTER_URL`` and ``DYDX_ROUTER_API_KEY`` and talks to that router over HTTP with the
typed client. Nothing but MCP messages goes to stdout: logs go to stderr.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import typer
from mcp.server.mcpserver import Context, MCPServer

from dydx_router.mcp.guard import McpSettings
from dydx_router.mcp.tools import build_server
from dydx_router.observability.logs import configure_logging
from dydx_router_client import AsyncRouterClient


def stdio_server(url: str, api_key: str, settings: McpSettings | None = None) -> MCPServer:
    client = AsyncRouterClient(url, api_key)

    @asynccontextmanager
    async def connect(_: Context) -> AsyncIterator[tuple[AsyncRouterClient, str]]:
        yield client, api_key

    return build_server(connect, settings)


def mcp_command() -> None:
    """Serve the MCP tools over stdio (DYDX_ROUTER_URL, DYDX_ROUTER_API_KEY)."""
    url = os.environ.get("DYDX_ROUTER_URL", "http://127.0.0.1:8000")
    api_key = os.environ.get("DYDX_ROUTER_API_KEY", "")
    if not api_key:
        typer.echo("DYDX_ROUTER_API_KEY is required", err=True)
        raise typer.Exit(2)
    # stdout carries the MCP messages: every log line (with the redactor) goes to stderr.
    configure_logging(os.environ.get("DYDX_ROUTER_LOG_FORMAT", "json"))
    anyio.run(stdio_server(url, api_key).run_stdio_async)
