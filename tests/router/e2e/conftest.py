"""The routers of the security modules, each on a database of its own (module-scoped: each
module that uses one starts its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.db import fresh_database
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import RouterProcess, start_router, stop_router
from tests.router.e2e.security_kit import (
    MAX_CONCURRENCY,
    READ_BURST,
    SHIPPED_DEFAULTS,
    SMALL_AUTH_ALLOWANCE,
)


@pytest.fixture(scope="module")
def secured(devnet: DevnetProcess, pg_server_url: str) -> Iterator[RouterProcess]:
    with fresh_database(pg_server_url, "security") as url:
        r = start_router(
            devnet,
            url,
            "security",
            {
                "DYDX_ROUTER_RATE_LIMIT_READ_PER_S": "1",
                "DYDX_ROUTER_RATE_LIMIT_READ_BURST": str(READ_BURST),
                "DYDX_ROUTER_RATE_LIMIT_ADMIN_BURST": "1000",
                "DYDX_ROUTER_RATE_LIMIT_ADMIN_PER_S": "100",
            },
        )
        try:
            yield r
        finally:
            stop_router(r)


@pytest.fixture(scope="module")
def attacked(devnet: DevnetProcess, pg_server_url: str) -> Iterator[RouterProcess]:
    with fresh_database(pg_server_url, "attacked") as url:
        r = start_router(devnet, url, "attacked", SHIPPED_DEFAULTS)
        try:
            yield r
        finally:
            stop_router(r)


@pytest.fixture(scope="module")
def untrusting(devnet: DevnetProcess, pg_server_url: str) -> Iterator[RouterProcess]:
    """No trusted proxy, a small auth-failure allowance (exhausted by its one test) and a small
    concurrency limit."""
    env = SMALL_AUTH_ALLOWANCE | {"DYDX_ROUTER_MAX_CONCURRENCY": str(MAX_CONCURRENCY)}
    with fresh_database(pg_server_url, "untrusting") as url:
        r = start_router(devnet, url, "untrusting", env)
        try:
            yield r
        finally:
            stop_router(r)


@pytest.fixture(scope="module")
def guarded(
    devnet: DevnetProcess, pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RouterProcess]:
    key_file = tmp_path_factory.mktemp("secrets") / "trading-key.hex"
    env = SMALL_AUTH_ALLOWANCE | {
        "DYDX_ROUTER_REQUIRE_RISK_LIMITS": "true",
        "DYDX_ROUTER_FORWARDED_ALLOW_IPS": "127.0.0.1",
        "DYDX_ROUTER_API_DOCS": "false",
    }
    with fresh_database(pg_server_url, "guarded") as url:
        r = start_router(devnet, url, "guarded", env, key_file=key_file)
        try:
            yield r
        finally:
            stop_router(r)
