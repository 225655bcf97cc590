"""The HTTP API over a container of hand-written fakes: no database, no chain.

The routes get their services through ``api/deps.py``'s getters, so the app runs over whatever
container it is handed, and any one service can be swapped with ``app.dependency_overrides``,
on FastAPI's routes and on the place-order fast path (``api/fastpath.py``) alike."""

from __future__ import annotations

import gc
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from dydx_router.api import orders
from dydx_router.api.deps import get_orders
from dydx_router.api.fastpath import PATH
from dydx_router.asgi import create_app
from dydx_router.config import Settings
from dydx_router.domain.access import ApiKey
from dydx_router.domain.market import MarketSpec
from dydx_router.domain.order import OrderStatus
from dydx_router.service.orders import OrderService
from dydx_router.service.ports import MarketView
from dydx_router.service.ratelimit import RateLimiter
from tests.router.unit.service.fakes import FakeExchange, FakeStore, FakeUnitOfWork

TOKEN = "dxr_fake"
KEY = ApiKey(
    id=uuid.UUID(int=1),
    name="fake",
    key_prefix="dxr_fake",
    scopes=frozenset({"read", "trade"}),
    subaccounts=None,
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
    revoked_at=None,
)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ORDER = {"market": "BTC-USD", "side": "BUY", "type": "LIMIT", "size": "0.01", "price": "50000"}


class FakeKeys:
    """The API keys' look-up: one key, no database."""

    def cached(self, token: str) -> bool:
        return token == TOKEN

    async def lookup(self, pool: Any, token: str) -> ApiKey | None:
        return KEY if token == TOKEN else None


@dataclass
class FakeContainer:
    """What the API reads of the composition root's container, built of fakes."""

    store: FakeStore
    exchange: FakeExchange
    orders: OrderService
    settings: Settings = field(default_factory=Settings)
    pool: Any = None
    uow: Any = None
    admin: Any = None
    gate: Any = None
    events: Any = None
    key_cache: FakeKeys = field(default_factory=FakeKeys)
    rate_limiter: RateLimiter = field(default_factory=lambda: RateLimiter({}))
    closed: bool = False

    async def readiness(self) -> dict[str, str]:
        return {"database": "ok", "chain": "ok"}

    async def aclose(self) -> None:
        self.closed = True


def fakes() -> FakeContainer:
    store = FakeStore()
    exchange = FakeExchange(store)
    orders = OrderService(uow=lambda: FakeUnitOfWork(store), exchange=exchange)
    return FakeContainer(store, exchange, orders)


@pytest.fixture
def container() -> FakeContainer:
    return fakes()


@pytest.fixture
def app(container: FakeContainer) -> Iterator[FastAPI]:
    thresholds = gc.get_threshold()
    yield create_app(Settings(), container=container)
    # The lifespan tunes the collector for a long-lived server (api/app.py): not for the tests.
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # In the test's own task: the lifespan's task group (the MCP session manager) must be left
    # in the task that entered it.
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def test_an_order_is_placed_and_read_back_over_the_fakes(
    app: FastAPI, container: FakeContainer
) -> None:
    async with serving(app) as client:
        # POST /v1/orders: the fast path (api/fastpath.py), over the container's services.
        placed = await client.post("/v1/orders", json=ORDER, headers=AUTH)
        assert placed.status_code == 201, placed.text
        order_id = uuid.UUID(placed.json()["id"])
        assert container.store.rows[order_id].status is OrderStatus.SUBMITTED
        assert len(container.exchange.broadcasts) == 1
        # GET: FastAPI's own binding, the same services.
        read = await client.get(f"/v1/orders/{order_id}", headers=AUTH)
        assert read.status_code == 200, read.text
        assert read.json()["status"] == "SUBMITTED"
        ready = await client.get("/ready")
        assert ready.json()["checks"] == {"database": "ok", "chain": "ok"}
        refused = await client.get("/v1/orders", headers={"Authorization": "Bearer no"})
        assert refused.status_code == 401


async def test_a_service_is_overridden_on_both_paths(
    app: FastAPI, container: FakeContainer
) -> None:
    other = fakes()
    eth = MarketSpec("ETH-USD", 1, -9, -9, 1_000_000, 100_000)

    def markets() -> list[MarketView]:
        return [MarketView(eth, Decimal(3000))]

    other.exchange.markets = markets  # type: ignore[method-assign]
    app.dependency_overrides[get_orders] = lambda: other.orders
    try:
        async with serving(app) as client:
            listed = await client.get("/v1/markets", headers=AUTH)
            assert [m["market"] for m in listed.json()["markets"]] == ["ETH-USD"]
            # The fast path takes the override too.
            placed = await client.post("/v1/orders", json=ORDER, headers=AUTH)
            assert placed.status_code == 201, placed.text
            assert uuid.UUID(placed.json()["id"]) in other.store.rows
            assert not container.store.rows  # the override, not the container, placed it
    finally:
        app.dependency_overrides.clear()


def test_the_fast_path_refuses_a_dependency_it_would_skip() -> None:
    """A ``Depends`` added to ``place_order`` that the fast path does not resolve fails the
    start-up (the middleware stack is built for the lifespan's first message), instead of
    being skipped silently on the common request."""
    route = next(
        r
        for r in orders.router.routes
        if isinstance(r, APIRoute) and r.path == PATH and "POST" in (r.methods or ())
    )
    extra = Dependant(call=lambda: None)
    route.dependant.dependencies.append(extra)
    try:
        with pytest.raises(RuntimeError, match="place_order"):
            create_app(Settings(), container=fakes()).build_middleware_stack()
    finally:
        route.dependant.dependencies.remove(extra)
    create_app(Settings(), container=fakes()).build_middleware_stack()
