"""IndexerClient and its models, behind httpx's transport seam.

Every payload served here is first validated against the indexer's own OpenAPI spec
(comlink's ``public/swagger.json`` in dydxprotocol/v4-chain, via the ``indexer_swagger``
fixture), so the models are tested against the real shapes, including the documented
divergences (comlink `addresses-controller.ts`, `orders-controller.ts`).
The end-to-end path over real sockets is in tests/router/integration/chain/.
"""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from dydx_router.chain.errors import (
    IndexerBadRequest,
    IndexerNotFound,
    IndexerResponseInvalid,
    IndexerUnavailable,
)
from dydx_router.chain.indexer import IndexerClient
from dydx_router.chain.indexer_models import (
    IndexerOrderStatus,
    PositionSide,
)
from dydx_router.domain.ids import order_uuid, subaccount_uuid
from dydx_router.domain.market import ClobPairStatus

ADDRESS = "dydx1n88uc38xhjgxzw9nwre4ep2c8ga4fjxc565lnf"  # the indexer's own test address
SUB_ID = str(subaccount_uuid(ADDRESS, 0))
ORDER_ID = str(order_uuid(ADDRESS, 0, 42, 0, 0))
NOW = "2026-11-24T05:00:00.000Z"


def test_uuids_match_the_indexers_own_test_constants() -> None:
    # indexer/packages/postgres/__tests__/stores/fill-table.test.ts uses
    # SubaccountTable.uuid(defaultAddress, 0) == 'df91255d-5e17-5e2e-824a-87ddf3c5214a'.
    assert SUB_ID == "df91255d-5e17-5e2e-824a-87ddf3c5214a"
    expected = uuid.uuid5(uuid.UUID("0f9da948-a6fb-4c45-9edc-4685c3f3317d"), f"{SUB_ID}-42-0-0")
    assert str(expected) == ORDER_ID


def _market(ticker: str = "BTC-USD") -> dict[str, Any]:
    return {
        "clobPairId": "0",
        "ticker": ticker,
        "status": "ACTIVE",
        "oraclePrice": "64321.12345",
        "priceChange24H": "-12.5",
        "volume24H": "123456789.123456",
        "trades24H": 1234,
        "nextFundingRate": "0.00001",
        "initialMarginFraction": "0.05",
        "maintenanceMarginFraction": "0.03",
        "openInterest": "1234.5678",
        "atomicResolution": -10,
        "quantumConversionExponent": -9,
        "tickSize": "1",
        "stepSize": "0.0001",
        "stepBaseQuantums": 1000000,
        "subticksPerTick": 100000,
        "marketType": "CROSS",
        "openInterestLowerCap": "0",
        "openInterestUpperCap": "0",
        "baseOpenInterest": "1000",
        "defaultFundingRate1H": "0",
    }


def _position(size: str, side: str) -> dict[str, Any]:
    return {
        "market": "BTC-USD",
        "status": "OPEN",
        "side": side,
        "size": size,
        "maxSize": size,
        "entryPrice": "64000",
        "exitPrice": None,
        "realizedPnl": "0",
        "unrealizedPnl": "-1.5",
        "createdAt": NOW,
        "createdAtHeight": "100",
        "closedAt": None,
        "sumOpen": "0.0015",
        "sumClose": "0",
        "netFunding": "0",
        "subaccountNumber": 0,
    }


def _usdc() -> dict[str, Any]:
    return {
        "symbol": "USDC",
        "side": "LONG",
        "size": "1000.5",
        "assetId": "0",
        "subaccountNumber": 0,
    }


def _order(status: str = "OPEN", **extra: Any) -> dict[str, Any]:
    return {
        "id": ORDER_ID,
        "subaccountId": SUB_ID,
        "clientId": "42",
        "clobPairId": "0",
        "side": "BUY",
        "size": "0.0015",
        "totalFilled": "0",
        "price": "64321",
        "type": "LIMIT",
        "reduceOnly": False,
        "orderFlags": "0",
        "goodTilBlock": "1234",
        "clientMetadata": "0",
        "timeInForce": "GTT",
        "status": status,
        "postOnly": False,
        "ticker": "BTC-USD",
        "subaccountNumber": 0,
        **extra,
    }


def _fill() -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "side": "SELL",
        "liquidity": "MAKER",
        "type": "LIMIT",
        "market": "BTC-USD",
        "marketType": "PERPETUAL",
        "price": "64321",
        "size": "0.0005",
        "fee": "-0.003537655",
        "affiliateRevShare": "0",
        "createdAt": NOW,
        "createdAtHeight": "101",
        "orderId": ORDER_ID,
        "clientMetadata": "0",
        "subaccountNumber": 0,
    }


# path template (as in the swagger) -> body served for it
BODIES: dict[str, Any] = {
    "/height": {"height": "12345", "time": NOW},
    "/perpetualMarkets": {"markets": {"BTC-USD": _market()}},
    "/addresses/{address}/subaccountNumber/{subaccountNumber}": {
        "subaccount": {
            "address": ADDRESS,
            "subaccountNumber": 0,
            "equity": "1000.5",
            "freeCollateral": "900.25",
            "openPerpetualPositions": {"BTC-USD": _position("-0.0015", "SHORT")},
            "assetPositions": {"USDC": _usdc()},
            "marginEnabled": True,
            "updatedAtHeight": "100",
            "latestProcessedBlockHeight": "12345",
        }
    },
    "/perpetualPositions": {"positions": [_position("-0.0015", "SHORT")]},
    "/assetPositions": {"positions": [_usdc()]},
    "/orders": [_order(), _order("BEST_EFFORT_OPENED", triggerPrice="65000")],
    "/orders/{orderId}": _order(
        "FILLED", totalFilled="0.0015", updatedAt=NOW, updatedAtHeight="101"
    ),
    "/fills": {"fills": [_fill()], "pageSize": 100, "totalResults": 1, "offset": 0},
    "/historical-pnl": {
        "historicalPnl": [
            {
                "equity": "1000.5",
                "totalPnl": "0.5",
                "netTransfers": "1000",
                "createdAt": NOW,
                "blockHeight": "12000",
                "blockTime": NOW,
            }
        ]
    },
    "/orderbooks/perpetualMarket/{ticker}": {
        "bids": [{"price": "64320", "size": "0.5"}, {"price": "64319", "size": "1.25"}],
        "asks": [{"price": "64322", "size": "0.75"}],
    },
}


def _route(path: str) -> str:
    """Concrete request path -> swagger template."""
    if path.startswith("/addresses/"):
        return "/addresses/{address}/subaccountNumber/{subaccountNumber}"
    if path.startswith("/orders/"):
        return "/orders/{orderId}"
    if path.startswith("/orderbooks/perpetualMarket/"):
        return "/orderbooks/perpetualMarket/{ticker}"
    return path


class Recorder:
    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.requests: list[httpx.Request] = []
        self.handler = handler

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


def _serve(request: httpx.Request) -> httpx.Response:
    assert request.url.path.startswith("/v4/")
    template = _route(request.url.path.removeprefix("/v4"))
    return httpx.Response(200, json=BODIES[template])


@pytest.fixture
def recorder() -> Recorder:
    return Recorder(_serve)


@pytest.fixture
async def client(recorder: Recorder) -> Any:
    async with IndexerClient(["http://indexer.test"], transport=httpx.MockTransport(recorder)) as c:
        yield c


def test_served_bodies_follow_the_indexer_spec(indexer_swagger: Any) -> None:
    for template, body in BODIES.items():
        indexer_swagger.validate_response(template, body)


async def test_height_and_markets(client: IndexerClient) -> None:
    height = await client.height()
    assert height.height == 12345
    assert height.time == datetime(2026, 11, 24, 5, tzinfo=UTC)
    markets = await client.perpetual_markets()
    btc = markets["BTC-USD"]
    assert btc.oracle_price == Decimal("64321.12345")
    assert btc.price_change_24h == Decimal("-12.5") and btc.trades_24h == 1234
    spec = btc.to_market_spec()
    assert (spec.clob_pair_id, spec.step_size, spec.tick_size) == (
        0,
        Decimal("0.0001"),
        Decimal("1"),
    )
    assert spec.status is ClobPairStatus.ACTIVE
    # The indexer's own stepSize/tickSize agree with our exact conversion.
    assert (spec.step_size, spec.tick_size) == (btc.step_size, btc.tick_size)


async def test_subaccount_is_unwrapped_and_positions_are_signed(
    client: IndexerClient, recorder: Recorder
) -> None:
    sub = await client.subaccount(ADDRESS, 0)
    assert recorder.requests[-1].url.path == f"/v4/addresses/{ADDRESS}/subaccountNumber/0"
    assert sub.equity == Decimal("1000.5")
    pos = sub.open_perpetual_positions["BTC-USD"]
    assert pos.side is PositionSide.SHORT and pos.size == Decimal("-0.0015")
    assert sub.asset_positions["USDC"].size == Decimal("1000.5")
    positions = await client.perpetual_positions(ADDRESS, 0)
    assert positions[0].size < 0
    assets = await client.asset_positions(ADDRESS, 0)
    assert assets[0].symbol == "USDC"


async def test_orders_is_a_bare_array_with_repeated_status_params(
    client: IndexerClient, recorder: Recorder
) -> None:
    orders = await client.orders(
        ADDRESS,
        0,
        ticker="BTC-USD",
        status=[IndexerOrderStatus.OPEN, IndexerOrderStatus.BEST_EFFORT_OPENED],
        good_til_block_after=10,
        return_latest_orders=True,
    )
    params = recorder.requests[-1].url.params
    assert params.get_list("status") == ["OPEN", "BEST_EFFORT_OPENED"]
    assert params["goodTilBlockAfter"] == "10" and params["returnLatestOrders"] == "true"
    assert "side" not in params  # unset filters are not sent
    assert [o.status for o in orders] == [
        IndexerOrderStatus.OPEN,
        IndexerOrderStatus.BEST_EFFORT_OPENED,
    ]
    assert orders[0].id == uuid.UUID(ORDER_ID) and orders[0].client_id == 42
    assert orders[1].trigger_price == Decimal("65000")


async def test_order_by_id_fills_pnl_and_book(client: IndexerClient) -> None:
    order = await client.order(uuid.UUID(ORDER_ID))
    assert order.status is IndexerOrderStatus.FILLED and order.total_filled == Decimal("0.0015")
    page = await client.fills(ADDRESS, 0, market="BTC-USD", limit=10)
    assert page.fills[0].fee == Decimal("-0.003537655")  # a maker rebate stays negative
    assert page.total_results == 1
    pnl = await client.historical_pnl(ADDRESS, 0)
    assert pnl.historical_pnl[0].block_height == 12000
    book = await client.orderbook("BTC-USD")
    assert [lvl.price for lvl in book.bids] == [Decimal("64320"), Decimal("64319")]


def _status(code: int, body: Any) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _: httpx.Response(code, json=body)


async def test_404_and_400_are_typed_and_say_why() -> None:
    not_found = {"errors": [{"msg": f"Unable to find order id {ORDER_ID}"}]}
    async with IndexerClient(
        ["http://i"], transport=httpx.MockTransport(_status(404, not_found))
    ) as c:
        with pytest.raises(IndexerNotFound, match="Unable to find order id"):
            await c.order(uuid.UUID(ORDER_ID))
    bad = {"errors": [{"msg": "address must be a valid dydx address"}]}
    async with IndexerClient(["http://i"], transport=httpx.MockTransport(_status(400, bad))) as c:
        with pytest.raises(IndexerBadRequest, match="valid dydx address"):
            await c.orders("nope", 0)


async def test_unexpected_shapes_are_refused() -> None:
    weird = [{**_order(), "status": "SOMETHING_NEW"}]
    async with IndexerClient(["http://i"], transport=httpx.MockTransport(_status(200, weird))) as c:
        with pytest.raises(IndexerResponseInvalid, match="unexpected shape"):
            await c.orders(ADDRESS, 0)
    floats = {"height": "1", "time": NOW}
    market = {**_market(), "oraclePrice": 64321.1}  # a JSON number where a string belongs
    async with IndexerClient(
        ["http://i"],
        transport=httpx.MockTransport(_status(200, {"markets": {"BTC-USD": market}, **floats})),
    ) as c:
        with pytest.raises(IndexerResponseInvalid):
            await c.perpetual_markets()


async def test_failover_on_5xx_429_and_transport_errors() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        if request.url.host == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.host == "busy":
            return httpx.Response(429, json={"errors": [{"msg": "rate limited"}]})
        if request.url.host == "broken":
            return httpx.Response(502, text="bad gateway")
        return httpx.Response(200, json=BODIES["/height"])

    async with IndexerClient(
        ["http://down", "http://busy", "http://broken", "http://good"],
        transport=httpx.MockTransport(handler),
    ) as c:
        assert (await c.height()).height == 12345
        assert seen == ["down", "busy", "broken", "good"]
        await c.height()  # sticks to the endpoint that answered
        assert seen[-1] == "good" and len(seen) == 5


async def test_all_endpoints_down_is_indexer_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with IndexerClient(["http://a", "http://b"], transport=httpx.MockTransport(handler)) as c:
        with pytest.raises(IndexerUnavailable, match="timeout") as exc:
            await c.height()
    assert exc.value.retryable
