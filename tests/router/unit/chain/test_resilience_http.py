"""How outages read over HTTP: one error table (api/errors.py) for open breakers, a lost
database and a shutdown in progress."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from dydx_router.api.errors import install_error_handlers
from dydx_router.chain.errors import ChainUnavailable
from dydx_router.domain.errors import ShuttingDown
from dydx_router.service.ports import DatabaseUnavailable
from dydx_router.store.database import STORE_FAILURES

RAISED: dict[str, Exception] = {
    "breakers": ChainUnavailable(
        "every node endpoint is failing", circuit_open=True, retry_after_s=2.4
    ),
    "transport": ChainUnavailable("no node endpoint answered"),
    "db": DatabaseUnavailable("no database connection: ConnectionRefusedError"),
    "db-raw": ConnectionRefusedError(111, "Connect call failed"),
    "db-driver": asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
    "db-misuse": asyncpg.InterfaceError("cannot perform operation: another operation is running"),
    "db-cut": asyncpg.exceptions.InternalClientError(
        "cannot switch to state 12; another operation (2) is in progress"
    ),
    "shutdown": ShuttingDown("the service is shutting down; retry shortly"),
}


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, STORE_FAILURES)  # the store tells which driver errors are outages

    @app.get("/{name}")
    async def fail(name: str) -> None:
        raise RAISED[name]

    return app


@pytest.mark.parametrize(
    ("name", "status", "code", "retry_after"),
    [
        ("breakers", 503, "chain_unavailable", "3"),  # when a probe is due, rounded up
        ("transport", 503, "chain_unavailable", "1"),
        ("db", 503, "database_unavailable", "1"),
        ("db-raw", 503, "database_unavailable", "1"),
        ("db-driver", 503, "database_unavailable", "1"),
        ("db-misuse", 500, "internal_error", None),  # a bug, not an outage
        ("db-cut", 503, "database_unavailable", "1"),  # a connection cut mid-statement
        ("shutdown", 503, "shutting_down", "1"),
    ],
)
async def test_outages_are_503_with_retry_after(
    name: str, status: int, code: str, retry_after: str | None
) -> None:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        resp = await client.get(f"/{name}")
    assert resp.status_code == status
    assert resp.json()["error"]["code"] == code
    assert resp.headers.get("retry-after") == retry_after
    if name == "db-raw":
        assert "111" not in resp.text  # driver details stay in the log
