"""Where the routes get their services: ``Depends`` getters over the container the composition
root built once (``bootstrap.py``; ``api/app.py`` keeps it in ``app.state.container``).

A route names what it needs (``service: Orders``), never ``request.app.state.container``, so a
test swaps any of it with ``app.dependency_overrides[get_orders] = ...`` or hands the app a
container of fakes (``tests/router/unit/api/test_composition.py``). ``api/fastpath.py``
resolves the same getters, overrides included, through ``resolve``.

The API imports no adapter (the layer contract): the container is seen through ``Services``,
the attributes the routes read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Depends, FastAPI, Request

from dydx_router.domain.access import ApiKey
from dydx_router.service.admin import AdminService
from dydx_router.service.events import EventHub
from dydx_router.service.orders import OrderService
from dydx_router.service.ratelimit import RateLimiter

T = TypeVar("T")


class KeyLookup(Protocol):
    """The API keys' cached look-up (``store/key_cache.py``)."""

    def cached(self, token: str) -> bool: ...

    async def lookup(self, pool: Any, token: str) -> ApiKey | None: ...


class Services(Protocol):
    """What the routes read of the container (``container.py``)."""

    @property
    def settings(self) -> Any: ...
    @property
    def pool(self) -> Any: ...
    @property
    def uow(self) -> Any: ...
    @property
    def exchange(self) -> Any: ...
    @property
    def orders(self) -> OrderService: ...
    @property
    def admin(self) -> AdminService | None: ...
    @property
    def gate(self) -> Any: ...
    @property
    def events(self) -> EventHub | None: ...
    @property
    def key_cache(self) -> KeyLookup: ...
    @property
    def rate_limiter(self) -> RateLimiter: ...

    async def readiness(self) -> dict[str, str]: ...


def get_services(request: Request) -> Services:
    """The container built at start-up (``api/app.py``'s lifespan)."""
    services: Services = request.app.state.container
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_orders(services: ServicesDep) -> OrderService:
    return services.orders


def get_admin(services: ServicesDep) -> AdminService:
    admin = services.admin
    assert admin is not None, "the composition root builds the admin service"
    return admin


def get_exchange(services: ServicesDep) -> Any:
    return services.exchange


Orders = Annotated[OrderService, Depends(get_orders)]
Admin = Annotated[AdminService, Depends(get_admin)]
Exchange = Annotated[Any, Depends(get_exchange)]


def resolve(api: FastAPI, getter: Callable[..., T], request: Request) -> T:
    """``getter``'s value for ``request`` as FastAPI's solver gives it, for the code that calls
    an endpoint without the solver (``api/fastpath.py``): an override wins, and a getter of
    the services is handed the services (resolved the same way)."""
    chosen: Callable[..., T] = api.dependency_overrides.get(getter, getter)
    if chosen is get_services:
        return chosen(request)
    if chosen in _OVER_SERVICES:
        return chosen(resolve(api, get_services, request))
    return chosen()


_OVER_SERVICES: frozenset[Callable[..., Any]] = frozenset({get_orders, get_admin, get_exchange})
