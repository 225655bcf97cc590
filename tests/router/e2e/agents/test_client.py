"""The typed client (sync and async) against the router on the devnet."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from dydx_router_client import AsyncRouterClient, PlaceOrderBody, RouterClient
from dydx_router_client import errors as client_errors
from dydx_router_client.models import OrderStatus, TradingState
from tests.fixtures.router import RouterProcess, create_key

pytestmark = pytest.mark.e2e


def test_sync_client_places_replays_waits_and_closes(router: RouterProcess) -> None:
    order = PlaceOrderBody.model_validate(
        {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"}
    )
    key = f"test-{uuid.uuid4()}"
    with RouterClient(router.url, router.api_key) as client:
        markets = client.markets()
        assert "BTC-USD" in {m.market for m in markets.markets}
        preview = client.preview_order(order)
        assert preview.dry_run and preview.order.size == Decimal("0.001")
        placed = client.place_order(order, idempotency_key=key)
        replay = client.place_order(order, idempotency_key=key)
        assert replay.id == placed.id  # the same key answers the same order
        filled = client.wait_for(placed.id, {OrderStatus.FILLED}, timeout=30)
        assert filled.filled_size == Decimal("0.001") and filled.average_fill_price
        page = client.list_orders(market="BTC-USD", status=OrderStatus.FILLED, limit=500)
        assert placed.id in {o.id for o in page.orders}
        assert client.positions().equity is not None
        assert client.trading_state().state is TradingState.ACTIVE
        closed = client.close_position("BTC-USD", size=Decimal("0.001"))
        assert client.wait_for(closed.id, timeout=30).status is OrderStatus.FILLED


async def test_async_client_errors_are_their_code_classes(router: RouterProcess) -> None:
    _, read_key = await create_key(router.database_url, {"read"}, name="client-read-only")
    bad_step = PlaceOrderBody.model_validate(
        {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.0000001"}
    )
    async with AsyncRouterClient(router.url, router.api_key) as client:
        with pytest.raises(client_errors.InvalidRequest) as caught:
            await client.place_order(bad_step)
        assert caught.value.status == 400 and caught.value.code in client_errors.ERRORS
        with pytest.raises(client_errors.NotFound) as missing:
            await client.get_order(uuid.uuid4())
        assert type(missing.value) is client_errors.ERRORS["order_not_found"]
        with pytest.raises(client_errors.WaitTimeout):
            opened = await client.place_order(
                PlaceOrderBody.model_validate(
                    {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"}
                )
            )
            await client.wait_for(opened.id, {OrderStatus.CANCELED}, timeout=0.5)
        await client.wait_for(opened.id, {OrderStatus.FILLED}, timeout=30)
        await client.close_position("BTC-USD", size=Decimal("0.001"))
    async with AsyncRouterClient(router.url, read_key) as reader:
        with pytest.raises(client_errors.Forbidden) as forbidden:
            await reader.cancel_orders(all=True)
        assert forbidden.value.code == "insufficient_scope"
    async with AsyncRouterClient(router.url, "dxr_" + "0" * 43) as stranger:
        with pytest.raises(client_errors.Unauthenticated):
            await stranger.markets()
