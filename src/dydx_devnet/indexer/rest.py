"""The indexer's REST API (comlink) under `/v4`, plus the testnet faucet's `POST /faucet/tokens`.

Validation and errors follow comlink: express-validator failures are HTTP 400
`{"errors": [{"type": "field", "value", "msg", "path", "location"}]}`
(`request-helpers/error-handler.ts`, `lib/validation/schemas.ts`); `NotFoundError` is 404
`{"errors": [{"msg"}]}` (`lib/helpers.ts`, `create4xxResponse`). Only the endpoints a trading
client needs are served (PROTOCOL.md §6); others answer 404.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from dydx_devnet.indexer import views
from dydx_devnet.indexer.fmt import iso, iso_ms, parse_iso_ms, to_ms
from dydx_devnet.indexer.projection import Projection
from dydx_devnet.indexer.records import (
    API_ORDER_STATUSES,
    CachedOrder,
    OrderRow,
    Status,
    SubaccountRow,
)
from dydx_devnet.model import OrderFlags, Side, SubaccountId

# `comlink/src/config.ts`
API_LIMIT_V4 = 1000
API_ORDERBOOK_LEVELS_PER_SIDE_LIMIT = 100
# `MAX_PARENT_SUBACCOUNTS * CHILD_SUBACCOUNT_MULTIPLIER` (`postgres/src/constants.ts`).
MAX_SUBACCOUNT_NUMBER = 128_000
ORDER_TYPES = (
    "LIMIT", "MARKET", "STOP_LIMIT", "STOP_MARKET", "TRAILING_STOP", "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET", "TWAP", "TWAP_SUBORDER",
)  # fmt: skip
POSITION_STATUSES = ("OPEN", "CLOSED", "LIQUIDATED")
_ADDRESS = re.compile(r"^[a-zA-Z0-9]{1,90}$")  # `isValidAddress`: alphanumeric, <= 90 chars


class FaucetPort(Protocol):
    """Credits USDC to a subaccount (the engine's deposit). May be sync or async."""

    def __call__(self, address: str, subaccount_number: int, usdc: Decimal) -> object: ...


class IndexerFaults(Protocol):
    """The fault switches this server honours (`dydx_devnet.faults.Faults`)."""

    indexer_latency_s: float
    indexer_unavailable: bool


# ---- responses and errors --------------------------------------------------------------------
def json_response(body: Any, status: int = 200) -> Response:
    data = json.dumps(body, separators=(",", ":")).encode()
    return Response(data, status_code=status, media_type="application/json; charset=utf-8")


class ApiError(Exception):
    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["msg"] if errors else "")
        self.status = status
        self.errors = errors


def not_found(msg: str) -> ApiError:
    return ApiError(404, [{"msg": msg}])


def bad_request(msg: str) -> ApiError:
    return ApiError(400, [{"msg": msg}])


class Params:
    """express-validator style checks over path and query parameters; every failure is kept,
    and `done()` raises one 400 with all of them."""

    def __init__(self, request: Request) -> None:
        self.path = request.path_params
        self.query = request.query_params
        self.errors: list[dict[str, Any]] = []

    def _raw(self, name: str) -> tuple[str | None, str]:
        if name in self.path:
            return str(self.path[name]), "params"
        return self.query.get(name), "query"

    def _fail(self, name: str, value: Any, msg: str, location: str) -> None:
        self.errors.append(
            {"type": "field", "value": value, "msg": msg, "path": name, "location": location}
        )

    def done(self) -> None:
        if self.errors:
            raise ApiError(400, self.errors)

    def address(self, name: str = "address") -> str:
        raw, loc = self._raw(name)
        if raw is None or not _ADDRESS.match(raw):
            self._fail(name, raw, "address must be a valid dydx address", loc)
            return ""
        return raw

    def integer(
        self, name: str, msg: str, *, minimum: int, maximum: int | None = None,
        required: bool = False,
    ) -> int | None:  # fmt: skip
        raw, loc = self._raw(name)
        if raw is None:
            if required:
                self._fail(name, raw, msg, loc)
            return None
        try:
            value = int(raw)
        except ValueError:
            self._fail(name, raw, msg, loc)
            return None
        if value < minimum or (maximum is not None and value > maximum):
            self._fail(name, raw, msg, loc)
            return None
        return value

    def subaccount_number(self, name: str = "subaccountNumber") -> int:
        n = self.integer(
            name,
            f"{name} must be a non-negative integer less than {MAX_SUBACCOUNT_NUMBER + 1}",
            minimum=0,
            maximum=MAX_SUBACCOUNT_NUMBER,
            required=True,
        )
        return 0 if n is None else n

    def height(self, name: str) -> int | None:
        """An optional block height filter (`createdBeforeOrAtHeight`, ...)."""
        return self.integer(name, f"{name} must be a non-negative integer", minimum=0)

    def page(self) -> int | None:
        return self.integer("page", "page must be a non-negative integer", minimum=1)

    def limit(self) -> int:
        msg = f"limit must be a positive integer that is not greater than max: {API_LIMIT_V4}"
        n = self.integer("limit", msg, minimum=1, maximum=API_LIMIT_V4)
        return API_LIMIT_V4 if n is None else n

    def choice(self, name: str, allowed: Iterable[str], msg: str) -> str | None:
        raw, loc = self._raw(name)
        if raw is None:
            return None
        if raw not in allowed:
            self._fail(name, raw, msg, loc)
            return None
        return raw

    def choices(self, name: str, allowed: Iterable[str], msg: str) -> list[str] | None:
        """A list parameter: repeated (`status=A&status=B`) or comma-separated
        (`sanitizeArray`, `request-helpers/sanitizers.ts`)."""
        raws = self.query.getlist(name)
        if not raws:
            return None
        values = [v for raw in raws for v in raw.split(",") if v != ""]
        allowed = set(allowed)
        if any(v not in allowed for v in values):
            self._fail(name, raws if len(raws) > 1 else raws[0], msg, "query")
            return None
        return values

    def iso(self, name: str) -> int | None:
        raw, loc = self._raw(name)
        if raw is None:
            return None
        try:
            return parse_iso_ms(raw)
        except ValueError:
            self._fail(name, raw, "Invalid value", loc)
            return None

    def boolean(self, name: str) -> bool | None:
        raw, loc = self._raw(name)
        if raw is None:
            return None
        if raw not in ("true", "false"):
            self._fail(name, raw, "Invalid value", loc)
            return None
        return raw == "true"


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
        # PROTOCOL.md §0.7: the real route wraps the object (the spec does not).
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
        errors = _faucet_errors(body)
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
            return Route(path, _guard(fn), methods=methods or ["GET"])

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
        app.add_exception_handler(404, _http_error)
        app.add_exception_handler(405, _http_error)
        return _FaultsMiddleware(app, self.faults, self)


def _guard(
    fn: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        try:
            return await fn(request)
        except ApiError as e:
            return json_response({"errors": e.errors}, e.status)

    return handler


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    return json_response({"errors": [{"msg": getattr(exc, "detail", "error")}]}, status)


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


def _faucet_errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    errors = []

    def fail(name: str, msg: str) -> None:
        value = body.get(name)
        if isinstance(value, Decimal):  # parsed with parse_float=Decimal; echo it as sent
            value = str(value)
        errors.append(
            {"type": "field", "value": value, "msg": msg, "path": name, "location": "body"}
        )

    address = body.get("address")
    if (
        not isinstance(address, str)
        or not address.startswith("dydx1")
        or not _ADDRESS.match(address)
    ):
        fail("address", "address must be a valid dydx address")
    number = body.get("subaccountNumber")
    if (
        isinstance(number, bool)
        or not isinstance(number, int)
        or not 0 <= number <= MAX_SUBACCOUNT_NUMBER
    ):
        fail(
            "subaccountNumber",
            "subaccountNumber must be a non-negative integer less than "
            f"{MAX_SUBACCOUNT_NUMBER + 1}",
        )
    amount = body.get("amount")
    try:
        value = (
            Decimal(amount)
            if isinstance(amount, int | Decimal) and not isinstance(amount, bool)
            else None
        )
    except InvalidOperation:
        value = None
    # USDC has 6 decimals: a finer amount cannot be credited exactly.
    if (
        value is None
        or not value.is_finite()
        or value <= 0
        or value != value.quantize(Decimal("0.000001"))
    ):
        fail("amount", "amount must be a positive number of USDC with at most 6 decimals")
    return errors


# ---- order listing (`orders-controller.ts`, `listOrdersCommon`) ------------------------------
@dataclass(frozen=True, slots=True)
class OrderQuery:
    clob_pair_id: int | None
    side: str | None
    type: str | None
    include_types: list[str] | None
    exclude_types: list[str] | None
    statuses: list[str] | None
    gtb_before_or_at: int | None
    gtb_after: int | None
    gtbt_before_or_at_ms: int | None
    gtbt_after_ms: int | None


def _expiry_ok(q: OrderQuery, gtb: int | None, gtbt_ms: int | None) -> bool:
    if q.gtb_before_or_at is not None or q.gtb_after is not None:
        if gtb is None:
            return False
        if q.gtb_before_or_at is not None and gtb > q.gtb_before_or_at:
            return False
        if q.gtb_after is not None and gtb <= q.gtb_after:
            return False
    if q.gtbt_before_or_at_ms is not None or q.gtbt_after_ms is not None:
        if gtbt_ms is None:
            return False
        if q.gtbt_before_or_at_ms is not None and gtbt_ms > q.gtbt_before_or_at_ms:
            return False
        if q.gtbt_after_ms is not None and gtbt_ms <= q.gtbt_after_ms:
            return False
    return True


def _gtb(order_flags: int, gtb: int, gtbt: int) -> tuple[int | None, int | None]:
    if order_flags == OrderFlags.SHORT_TERM:
        return gtb, None
    return None, gtbt * 1000


def _row_matches(q: OrderQuery, row: OrderRow) -> bool:
    """The Postgres query (`OrderTable.findAll`)."""
    o = row.order
    if q.clob_pair_id is not None and o.order_id.clob_pair_id != q.clob_pair_id:
        return False
    if q.side is not None and views.side_name(o.side) != q.side:
        return False
    if q.type is not None and row.type != q.type:
        return False
    if q.include_types is not None and row.type not in q.include_types:
        return False
    if q.exclude_types is not None and row.type in q.exclude_types:
        return False
    if q.statuses is not None and row.status not in q.statuses:
        return False
    return _expiry_ok(q, *_gtb(o.order_id.order_flags, o.good_til_block, o.good_til_block_time))


def _cached_matches(q: OrderQuery, entry: CachedOrder) -> bool:
    """`getRedisOrderMapForSubaccountIds`: Redis holds LIMIT orders only as far as the `type`
    filter is concerned; include/exclude types and statuses do not apply there."""
    o = entry.order
    if q.type is not None and q.type != "LIMIT":
        return False
    if q.clob_pair_id is not None and o.order_id.clob_pair_id != q.clob_pair_id:
        return False
    if q.side is not None and (o.side == Side.BUY) != (q.side == "BUY"):
        return False
    return _expiry_ok(q, *_gtb(o.order_id.order_flags, o.good_til_block, o.good_til_block_time))


def list_orders(
    p: Projection, sid: SubaccountId, q: OrderQuery, limit: int, ascending: bool
) -> list[dict[str, Any]]:
    """Postgres rows matching the query, merged with matching Redis orders (whose Postgres row,
    if any, decides the status); then the status filter on the merged result, the sort by
    expiry (`compareOrderResponses`: goodTilBlock orders before goodTilBlockTime ones when
    ascending) and the limit. Only the orders returned are rendered."""
    sub = p.pending_or_live(sid)
    if sub is None:
        return []
    found: list[tuple[tuple[int, int], OrderRow | None, CachedOrder | None]] = []
    for uid in sub.order_uuids:
        row, cached = p.rows.get(uid), p.cache.get(uid)
        if not (
            (row is not None and _row_matches(q, row))
            or (cached is not None and _cached_matches(q, cached))
        ):
            continue
        status = row.status if row is not None else Status.BEST_EFFORT_OPENED
        if q.statuses is not None and status not in q.statuses:
            continue
        # The response's expiry is Redis's when the order is there (a replacement moves it).
        live = cached.order if cached is not None else row.order  # type: ignore[union-attr]
        key = (
            (0, live.good_til_block)
            if live.order_id.order_flags == OrderFlags.SHORT_TERM
            else (1, live.good_til_block_time)
        )
        found.append((key, row, cached))
    found.sort(key=lambda f: f[0], reverse=not ascending)
    return [views.order_response(p, row, cached) for _, row, cached in found[:limit]]
