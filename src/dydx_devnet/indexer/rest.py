"""The indexer's REST API (comlink) under `/v4`, plus the testnet faucet's `POST /faucet/tokens`.

Validation and errors follow comlink (`dydx_devnet.indexer.params`); the order listing's filters
are `dydx_devnet.indexer.order_query`. Only the endpoints a trading client needs are served
(routes as in v4-chain `indexer/services/comlink/public/swagger.json`); others answer 404.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from dydx_devnet.indexer import views
from dydx_devnet.indexer.fmt import iso, iso_ms, to_ms
from dydx_devnet.indexer.order_query import OrderQuery, list_orders
from dydx_devnet.indexer.params import (
    API_ORDERBOOK_LEVELS_PER_SIDE_LIMIT,
    ORDER_TYPES,
    POSITION_STATUSES,
    ApiError,
    Params,
    bad_request,
    faucet_errors,
    guard,
    http_error,
    json_response,
    not_found,
)
from dydx_devnet.indexer.projection import Projection
from dydx_devnet.indexer.records import (
    API_ORDER_STATUSES,
    SubaccountRow,
)
from dydx_devnet.model import SubaccountId


class FaucetPort(Protocol):
    """Credits USDC to a subaccount (the engine's deposit). May be sync or async."""

    def __call__(self, address: str, subaccount_number: int, usdc: Decimal) -> object: ...


class IndexerFaults(Protocol):
    """The fault switches this server honours (`dydx_devnet.faults.Faults`)."""

    indexer_latency_s: float
    indexer_unavailable: bool


# ---- the application -------------------------------------------------------------------------
@dataclass
class IndexerApi:
    projection: Projection
    faults: IndexerFaults | None = None
    faucet: FaucetPort | None = None
    failure: str | None = None  # set when the event consumer died: every answer is a 500

    def _ticker(self, params: Params, name: str = "ticker") -> int | None:
        """An optional valid ticker -> its clob pair id (`checkTickerOptionalQuerySchema`)."""
        ticker = params.choice(
            name, self.projection.by_ticker, "ticker must be a valid ticker (BTC-USD, etc)"
        )
        return None if ticker is None else self.projection.by_ticker[ticker].market.clob_pair_id

    # -- blocks and time --
    async def height(self, request: Request) -> Response:
        p = self.projection
        if p.height is None or p.block_time is None:
            raise not_found("No blocks found")
        return json_response({"height": str(p.height), "time": iso(p.block_time)})

    async def time(self, request: Request) -> Response:
        now_ns = time.time_ns()
        # `epoch` is seconds with a fraction (a JSON number, not an amount).
        return json_response({"iso": iso_ms(now_ns // 1_000_000), "epoch": now_ns / 1e9})

    # -- markets --
    async def perpetual_markets(self, request: Request) -> Response:
        params = Params(request)
        limit = params.limit()
        clob_pair_id = self._ticker(params)
        market_ticker = params.choice(
            "market", self.projection.by_ticker, "market must be a valid ticker (BTC-USD, etc)"
        )
        params.done()
        if clob_pair_id is not None and market_ticker is not None:
            raise bad_request("Only one of ticker or market may be provided")
        if market_ticker is not None:
            clob_pair_id = self.projection.by_ticker[market_ticker].market.clob_pair_id
        rows = sorted(self.projection.markets.items())
        markets = {
            row.market.ticker: views.market_response(self.projection, row)
            for cid, row in rows
            if clob_pair_id is None or cid == clob_pair_id
        }
        return json_response({"markets": dict(list(markets.items())[:limit])})

    async def orderbook(self, request: Request) -> Response:
        ticker = request.path_params["ticker"]
        row = self.projection.by_ticker.get(ticker)
        if row is None:
            raise not_found(f"{ticker} not found in markets of type PERPETUAL")
        return json_response(views.orderbook_response(row, API_ORDERBOOK_LEVELS_PER_SIDE_LIMIT))

    # -- accounts --
    async def address(self, request: Request) -> Response:
        params = Params(request)
        address = params.address()
        params.done()
        p = self.projection
        subs = sorted(
            (s for sid, s in p.subaccounts.items() if sid.owner == address),
            key=lambda s: s.id.number,
        )
        if not subs:
            raise not_found(f"No subaccounts found for address {address}")
        return json_response(
            {
                "subaccounts": [views.subaccount_response(p, s) for s in subs],
                "totalTradingRewards": "0",
            }
        )

    def _subaccount_params(self, request: Request) -> tuple[SubaccountId, Params]:
        params = Params(request)
        address = params.address()
        number = params.subaccount_number()
        return SubaccountId(address, number), params

    def _require_subaccount(self, sid: SubaccountId) -> SubaccountRow:
        row = self.projection.subaccounts.get(sid)
        if row is None:
            raise not_found(
                f"No subaccount found with address {sid.owner} and subaccountNumber {sid.number}"
            )
        return row

    async def subaccount(self, request: Request) -> Response:
        sid, params = self._subaccount_params(request)
        params.done()
        row = self._require_subaccount(sid)
        # The real route wraps the object, the spec does not (v4-chain
        # indexer/services/comlink/src/controllers/api/v4/addresses-controller.ts).
        return json_response({"subaccount": views.subaccount_response(self.projection, row)})

    async def perpetual_positions(self, request: Request) -> Response:
        sid, params = self._subaccount_params(request)
        statuses = params.choices(
            "status", POSITION_STATUSES, "status must be a valid Position Status (OPEN, etc)"
        )
        limit = params.limit()
        before_height = params.height("createdBeforeOrAtHeight")
        before_ms = params.iso("createdBeforeOrAt")
        params.done()
        row = self.projection.subaccounts.get(sid)
        positions = [] if row is None else list(reversed(row.positions))
        out = [
            views.position_response(self.projection, row, pos)  # type: ignore[arg-type]
            for pos in positions
            if (statuses is None or pos.status in statuses)
            and (before_height is None or pos.created_at_height <= before_height)
            and (before_ms is None or to_ms(pos.created_at) <= before_ms)
        ]
        return json_response({"positions": out[:limit]})

    async def asset_positions(self, request: Request) -> Response:
        sid, params = self._subaccount_params(request)
        params.done()
        row = self._require_subaccount(sid)
        usdc = views.asset_position_response(row)
        return json_response({"positions": [] if usdc is None else [usdc]})

    async def fills(self, request: Request) -> Response:
        sid, params = self._subaccount_params(request)
        market = params.choice("market", self.projection.by_ticker, "Invalid value")
        market_type = params.choice(
            "marketType",
            ("PERPETUAL", "SPOT"),
            "marketType must be a valid market type (PERPETUAL/SPOT)",
        )
        limit = params.limit()
        before_height = params.height("createdBeforeOrAtHeight")
        before_ms = params.iso("createdBeforeOrAt")
        page = params.page()
        params.done()
        clob_pair_id = None
        if market is not None and market_type is not None:
            if market_type != "PERPETUAL":
                raise not_found(f"{market} not found in markets of type {market_type}")
            clob_pair_id = self.projection.by_ticker[market].market.clob_pair_id
        row = self.projection.subaccounts.get(sid)
        fills = [
            f
            for f in (row.fills if row is not None else ())
            if (clob_pair_id is None or f.clob_pair_id == clob_pair_id)
            and (before_height is None or f.created_at_height <= before_height)
            and (before_ms is None or to_ms(f.created_at) <= before_ms)
        ]
        body: dict[str, Any] = {}
        if page is None:
            # `FillTable.findAll`: newest first.
            selected = list(reversed(fills))[:limit]
        else:
            # With `page`, comlink orders by event id ascending and reports the pagination.
            offset = (page - 1) * limit
            selected = fills[offset : offset + limit]
            body.update(pageSize=limit, totalResults=len(fills), offset=offset)
        body["fills"] = [views.fill_response(self.projection, f) for f in selected]
        return json_response(body)

    async def transfers(self, request: Request) -> Response:
        sid, params = self._subaccount_params(request)
        limit = params.limit()
        params.done()
        row = self.projection.subaccounts.get(sid)
        items = list(reversed(row.transfers))[:limit] if row is not None else []
        return json_response({"transfers": [views.transfer_response(t, sid) for t in items]})

    async def historical_pnl(self, request: Request) -> Response:
        sid, params = self._subaccount_params(request)
        limit = params.limit()
        before_h = params.height("createdBeforeOrAtHeight")
        before_ms = params.iso("createdBeforeOrAt")
        after_h = params.height("createdOnOrAfterHeight")
        after_ms = params.iso("createdOnOrAfter")
        page = params.page()
        params.done()
        row = self._require_subaccount(sid)
        ticks = [
            t
            for t in reversed(row.pnl_ticks)  # `orderBy blockHeight DESC`
            if (before_h is None or t.block_height <= before_h)
            and (before_ms is None or to_ms(t.created_at) <= before_ms)
            and (after_h is None or t.block_height >= after_h)
            and (after_ms is None or to_ms(t.created_at) >= after_ms)
        ]
        body: dict[str, Any] = {}
        offset = 0 if page is None else (page - 1) * limit
        if page is not None:
            body.update(pageSize=limit, totalResults=len(ticks), offset=offset)
        body["historicalPnl"] = [views.pnl_response(t) for t in ticks[offset : offset + limit]]
        return json_response(body)

    # -- orders --
    async def list_orders(self, request: Request) -> Response:
        sid, params = self._subaccount_params(request)
        limit = params.limit()
        clob_pair_id = self._ticker(params)
        side = params.choice("side", ("BUY", "SELL"), "side must be one of BUY,SELL")
        type_ = params.choice("type", ORDER_TYPES, f"type must be one of {','.join(ORDER_TYPES)}")
        include = params.choices(
            "includeTypes", ORDER_TYPES, f"includeTypes must be one of {','.join(ORDER_TYPES)}"
        )
        exclude = params.choices(
            "excludeTypes", ORDER_TYPES, f"excludeTypes must be one of {','.join(ORDER_TYPES)}"
        )
        statuses = params.choices(
            "status", API_ORDER_STATUSES, f"status must be one of {','.join(API_ORDER_STATUSES)}"
        )
        gtb_le = params.integer("goodTilBlockBeforeOrAt", "Invalid value", minimum=1)
        gtb_gt = params.integer("goodTilBlockAfter", "Invalid value", minimum=1)
        gtbt_le = params.iso("goodTilBlockTimeBeforeOrAt")
        gtbt_gt = params.iso("goodTilBlockTimeAfter")
        latest = params.boolean("returnLatestOrders")
        params.done()
        query = OrderQuery(
            clob_pair_id, side, type_, include, exclude, statuses, gtb_le, gtb_gt,
            gtbt_le, gtbt_gt,
        )  # fmt: skip
        # Ascending only when `returnLatestOrders=false` (`returnLatestOrdersToOrdering`).
        return json_response(list_orders(self.projection, sid, query, limit, latest is False))

    async def get_order(self, request: Request) -> Response:
        order_id = request.path_params["orderId"]
        try:
            uuid.UUID(order_id)
        except ValueError:
            params = Params(request)
            params._fail("orderId", order_id, "Invalid value", "params")
            params.done()
        p = self.projection
        row, cached = p.rows.get(order_id), p.cache.get(order_id)
        if row is None and cached is None:
            raise not_found(f"Unable to find order id {order_id}")
        return json_response(views.order_response(p, row, cached))

    # -- faucet --
    async def faucet_tokens(self, request: Request) -> Response:
        """The public testnet faucet's `POST /faucet/tokens` {address, subaccountNumber, amount}
        (the official clients' `FaucetClient.fill`); `amount` is in USDC."""
        if self.faucet is None:
            raise not_found("The faucet is not enabled")
        try:
            # Decimal, never float: the amount becomes exact quote quantums.
            body = json.loads(await request.body(), parse_float=Decimal)
        except (ValueError, UnicodeDecodeError) as e:
            raise bad_request("body must be a JSON object") from e
        if not isinstance(body, dict):
            raise bad_request("body must be a JSON object")
        errors = faucet_errors(body)
        if errors:
            raise ApiError(400, errors)
        address, number = body["address"], body["subaccountNumber"]
        amount = Decimal(body["amount"])
        try:
            result = self.faucet(address, number, amount)
            if inspect.isawaitable(result):
                await result
        except ValueError as e:  # the engine's own checks (e.g. a bad bech32 checksum)
            raise ApiError(
                400,
                [{"type": "field", "value": address, "msg": str(e), "path": "address",
                  "location": "body"}],
            ) from e  # fmt: skip
        return json_response(
            {"address": address, "subaccountNumber": number, "amount": str(amount)}, 202
        )

    # -- wiring --
    def routes(self) -> list[Route]:
        def r(
            path: str,
            fn: Callable[[Request], Awaitable[Response]],
            methods: list[str] | None = None,
        ) -> Route:
            return Route(path, guard(fn), methods=methods or ["GET"])

        return [
            r("/v4/height", self.height),
            r("/v4/time", self.time),
            r("/v4/perpetualMarkets", self.perpetual_markets),
            r("/v4/orderbooks/perpetualMarket/{ticker}", self.orderbook),
            r("/v4/addresses/{address}", self.address),
            r("/v4/addresses/{address}/subaccountNumber/{subaccountNumber}", self.subaccount),
            r("/v4/perpetualPositions", self.perpetual_positions),
            r("/v4/assetPositions", self.asset_positions),
            r("/v4/fills", self.fills),
            r("/v4/transfers", self.transfers),
            r("/v4/historical-pnl", self.historical_pnl),
            r("/v4/orders", self.list_orders),
            r("/v4/orders/{orderId}", self.get_order),
            r("/faucet/tokens", self.faucet_tokens, ["POST"]),
        ]

    def app(self) -> ASGIApp:
        app = Starlette(routes=self.routes())
        app.add_exception_handler(404, http_error)
        app.add_exception_handler(405, http_error)
        return _FaultsMiddleware(app, self.faults, self)


class _FaultsMiddleware:
    """`indexer_latency_s` delays every request; `indexer_unavailable` answers 503; a dead
    event consumer answers 500."""

    def __init__(self, app: ASGIApp, faults: IndexerFaults | None, api: IndexerApi) -> None:
        self.app = app
        self.faults = faults
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.api.failure is not None:
            response = json_response({"errors": [{"msg": self.api.failure}]}, 500)
            await response(scope, receive, send)
            return
        f = self.faults
        if scope["type"] == "http" and f is not None:
            if f.indexer_latency_s > 0:
                await asyncio.sleep(f.indexer_latency_s)
            if f.indexer_unavailable:
                response = json_response({"errors": [{"msg": "Service Unavailable"}]}, 503)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
