"""A typed Python client for the dYdX v4 order router (httpx + pydantic, nothing else).

    from dydx_router_client import AsyncRouterClient, PlaceOrderBody

The models are generated from the router's OpenAPI document (``openapi.json`` in this package,
``scripts/gen_client_models.py``): the same shapes as the server's, by construction.
"""

from dydx_router_client import errors, models
from dydx_router_client._core import RetryPolicy
from dydx_router_client.aio import AsyncRouterClient
from dydx_router_client.errors import RouterError
from dydx_router_client.events import FillEvent, OrderEvent, TradingStateEvent
from dydx_router_client.models import (
    DryRunOut,
    OrderOut,
    OrderStatus,
    OrderType,
    PlaceOrderBody,
    Side,
    TimeInForce,
)
from dydx_router_client.sync import RouterClient

__version__ = "0.1.0"
__all__ = [
    "AsyncRouterClient",
    "DryRunOut",
    "FillEvent",
    "OrderEvent",
    "OrderOut",
    "OrderStatus",
    "OrderType",
    "PlaceOrderBody",
    "RetryPolicy",
    "RouterClient",
    "RouterError",
    "Side",
    "TimeInForce",
    "TradingStateEvent",
    "errors",
    "models",
]
