"""dYdX Indexer (comlink) REST client over ``httpx.AsyncClient``.

Base URLs are given without the ``/v4`` prefix (``https://indexer.dydx.trade``). They are ranked
by health (latency, errors, height lag) with a circuit breaker each (``chain/resilience.py``): a
transport error, a timeout, HTTP 429 or a 5xx moves to the next one; when all have failed the GET
is retried with backoff and jitter inside a time budget (reads are safe to repeat); while every
breaker is open a call fails at once. Every request has a timeout. :meth:`IndexerClient.monitor`
probes ``/v4/height`` on each URL in the background. Responses are parsed into the typed models
of ``chain/indexer_models.py``; ``httpx`` and pydantic errors are translated into
``chain.errors.Indexer*`` at this boundary.

Known divergences from the spec are handled here (comlink ``addresses-controller.ts``,
``orders-controller.ts``):
``/addresses/{a}/subaccountNumber/{n}`` is wrapped as ``{"subaccount": ...}``, and ``/orders``
returns a bare array.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import httpx
import structlog
from pydantic import BaseModel, TypeAdapter, ValidationError

from dydx_router.chain.errors import (
    IndexerBadRequest,
    IndexerNotFound,
    IndexerResponseInvalid,
    IndexerUnavailable,
)
from dydx_router.chain.indexer_models import (
    AssetPosition,
    FillsPage,
    HistoricalPnlPage,
    IndexerHeight,
    IndexerOrder,
    IndexerOrderStatus,
    IndexerOrderType,
    Orderbook,
    OrderSide,
    PerpetualMarket,
    PerpetualPosition,
    PositionStatus,
    Subaccount,
)
from dydx_router.chain.resilience import EndpointPool, HealthPolicy, circuit_open_error
from dydx_router.chain.retries import RetryPolicy, call_with_retries

log = structlog.get_logger(__name__)

M = TypeVar("M", bound=BaseModel)
_ORDERS = TypeAdapter(list[IndexerOrder])
_MARKETS = TypeAdapter(dict[str, PerpetualMarket])
_POSITIONS = TypeAdapter(list[PerpetualPosition])
_ASSETS = TypeAdapter(list[AssetPosition])

Params = Mapping[str, str | int | bool | Sequence[str] | None]


def _query(params: Params) -> list[tuple[str, str | int | float | bool | None]]:
    """Drop unset params; repeat list params (``status=OPEN&status=UNTRIGGERED``)."""
    out: list[tuple[str, str | int | float | bool | None]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out.append((key, "true" if value else "false"))
        elif isinstance(value, str | int):
            out.append((key, str(value)))
        else:
            out.extend((key, str(v)) for v in value)
    return out


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _error_text(response: httpx.Response) -> str:
    # comlink errors: {"errors": [{"msg": "..."}]} (comlink/src/lib/helpers.ts)
    try:
        body = response.json()
        return "; ".join(str(e.get("msg", e)) for e in body["errors"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return response.text[:200]


class IndexerClient:
    """Typed reads of the indexer REST API with failover across base URLs."""

    def __init__(
        self,
        base_urls: Sequence[str],
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        health: HealthPolicy | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not base_urls:
            raise ValueError("at least one indexer URL is required")
        self._bases = [u.rstrip("/") for u in base_urls]
        self._pool: EndpointPool[str] = EndpointPool(
            self._bases, self._bases, health, upstream="indexer"
        )
        self._timeout = timeout
        self._retry = retry or RetryPolicy(budget_s=timeout)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"accept": "application/json"},
        )

    async def __aenter__(self) -> IndexerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def pool(self) -> EndpointPool[str]:
        """Breakers and health of every base URL (read-only use: readiness, metrics)."""
        return self._pool

    @property
    def current_url(self) -> str:
        return self._bases[self._pool.current]

    async def _get(self, path: str, params: Params | None = None) -> Any:
        """GET with failover; then retries (a read may be repeated freely) within the budget."""
        query = tuple(_query(params or {}))

        def attempt(limit: float) -> Awaitable[Any]:
            return self._attempt(path, query, limit)

        return await call_with_retries(self._retry, attempt, self._timeout)

    async def _attempt(self, path: str, query: tuple[Any, ...], deadline: float) -> Any:
        pool = self._pool
        problem = ""
        for index in pool.candidates():
            url = f"{self._bases[index]}/v4{path}"
            began = time.monotonic()
            try:
                response = await self._http.get(url, params=query, timeout=deadline)
            except httpx.TimeoutException as e:
                problem = f"timeout ({type(e).__name__})"
            except httpx.HTTPError as e:  # transport, decoding, redirect loops
                problem = f"transport error ({type(e).__name__})"
            else:
                status = response.status_code
                if status == 429 or status >= 500:
                    problem = f"HTTP {status}: {_error_text(response)}"
                else:
                    pool.succeeded(index, time.monotonic() - began)
                    return self._decode(path, response)
            pool.failed(index)
            log.warning("indexer_endpoint_failed", url=self._bases[index], problem=problem)
        if not problem:
            raise circuit_open_error(IndexerUnavailable, "indexer", pool, pool.retry_after())
        raise IndexerUnavailable(f"no indexer endpoint answered {path}: {problem}", path=path)

    # --- health monitor ------------------------------------------------------------------

    async def monitor(
        self,
        *,
        interval: float = 1.0,
        probe_timeout: float = 1.0,
        chain_height: Callable[[], int | None] | None = None,
    ) -> None:
        """Probe ``/v4/height`` on every URL forever (a background task): latency, errors and
        lag behind the best height (``chain_height``, e.g. the node's, counts too); also the
        half-open probe of an open breaker."""
        pool = self._pool
        pool.traffic_probes = False
        try:
            while True:
                await asyncio.gather(*(self._probe(i, probe_timeout) for i in range(len(pool))))
                if chain_height is not None and (h := chain_height()) is not None:
                    pool.observe_reference_height(h)
                pool.rerank()
                await asyncio.sleep(interval)
        finally:
            pool.traffic_probes = True

    async def _probe(self, index: int, deadline: float) -> None:
        if not self._pool.health[index].breaker.closed and not self._pool.claim_probe(index):
            return
        began = time.monotonic()
        try:
            response = await self._http.get(f"{self._bases[index]}/v4/height", timeout=deadline)
            ok = response.status_code == 200
            height = int(response.json()["height"]) if ok else None
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            ok, height = False, None
        if ok:
            self._pool.succeeded(index, time.monotonic() - began, height)
        else:
            self._pool.failed(index)

    @staticmethod
    def _decode(path: str, response: httpx.Response) -> Any:
        status = response.status_code
        if status == 404:
            raise IndexerNotFound(f"indexer: {_error_text(response)}", path=path)
        if status >= 400:
            raise IndexerBadRequest(
                f"indexer refused {path}: HTTP {status}: {_error_text(response)}", path=path
            )
        try:
            return response.json()
        except ValueError as e:
            raise IndexerResponseInvalid(f"indexer {path}: body is not JSON", path=path) from e

    @staticmethod
    def _parse(path: str, adapter: Any, body: Any) -> Any:
        try:
            if isinstance(adapter, type) and issubclass(adapter, BaseModel):
                return adapter.model_validate(body)
            return adapter.validate_python(body)
        except ValidationError as e:
            raise IndexerResponseInvalid(
                f"indexer {path}: unexpected shape: {e.error_count()} problem(s), first: "
                f"{e.errors()[0]['loc']} {e.errors()[0]['msg']}",
                path=path,
            ) from e

    async def _model(self, model: type[M], path: str, params: Params | None = None) -> M:
        result: M = self._parse(path, model, await self._get(path, params))
        return result

    # --- endpoints -------------------------------------------------------------------------

    async def height(self) -> IndexerHeight:
        return await self._model(IndexerHeight, "/height")

    async def perpetual_markets(self, ticker: str | None = None) -> dict[str, PerpetualMarket]:
        body = await self._get("/perpetualMarkets", {"ticker": ticker})
        markets: dict[str, PerpetualMarket] = self._parse(
            "/perpetualMarkets", _MARKETS, _field(body, "markets", "/perpetualMarkets")
        )
        return markets

    async def subaccount(self, address: str, subaccount_number: int = 0) -> Subaccount:
        path = f"/addresses/{address}/subaccountNumber/{subaccount_number}"
        body = await self._get(path)
        # The real route wraps the object (comlink addresses-controller.ts); accept the spec's bare
        # shape too.
        inner = body.get("subaccount", body) if isinstance(body, dict) else body
        result: Subaccount = self._parse(path, Subaccount, inner)
        return result

    async def perpetual_positions(
        self,
        address: str,
        subaccount_number: int = 0,
        *,
        status: Sequence[PositionStatus] = (),
        limit: int | None = None,
    ) -> list[PerpetualPosition]:
        params: Params = {
            "address": address,
            "subaccountNumber": subaccount_number,
            "status": [s.value for s in status] or None,
            "limit": limit,
        }
        body = await self._get("/perpetualPositions", params)
        positions: list[PerpetualPosition] = self._parse(
            "/perpetualPositions", _POSITIONS, _field(body, "positions", "/perpetualPositions")
        )
        return positions

    async def asset_positions(
        self, address: str, subaccount_number: int = 0
    ) -> list[AssetPosition]:
        params: Params = {"address": address, "subaccountNumber": subaccount_number}
        body = await self._get("/assetPositions", params)
        positions: list[AssetPosition] = self._parse(
            "/assetPositions", _ASSETS, _field(body, "positions", "/assetPositions")
        )
        return positions

    async def orders(
        self,
        address: str,
        subaccount_number: int = 0,
        *,
        ticker: str | None = None,
        side: OrderSide | None = None,
        order_type: IndexerOrderType | None = None,
        status: Sequence[IndexerOrderStatus] = (),
        limit: int | None = None,
        good_til_block_before_or_at: int | None = None,
        good_til_block_after: int | None = None,
        good_til_block_time_before_or_at: datetime | None = None,
        good_til_block_time_after: datetime | None = None,
        return_latest_orders: bool | None = None,
    ) -> list[IndexerOrder]:
        params: Params = {
            "address": address,
            "subaccountNumber": subaccount_number,
            "ticker": ticker,
            "side": side.value if side else None,
            "type": order_type.value if order_type else None,
            "status": [s.value for s in status] or None,
            "limit": limit,
            "goodTilBlockBeforeOrAt": good_til_block_before_or_at,
            "goodTilBlockAfter": good_til_block_after,
            "goodTilBlockTimeBeforeOrAt": _iso(good_til_block_time_before_or_at),
            "goodTilBlockTimeAfter": _iso(good_til_block_time_after),
            "returnLatestOrders": return_latest_orders,
        }
        orders: list[IndexerOrder] = self._parse(
            "/orders", _ORDERS, await self._get("/orders", params)
        )
        return orders

    async def order(self, order_id: uuid.UUID) -> IndexerOrder:
        """One order by its indexer UUID (``indexer_models.order_uuid``); 404 → IndexerNotFound.

        An unfilled short-term order never reaches the indexer's Postgres, so after a cancel or
        expiry this is 404 (Vulcan only updates existing rows: v4-chain
        ``indexer/services/vulcan/src/handlers/order-remove-handler.ts``): absence is not proof that
        it never existed.
        """
        return await self._model(IndexerOrder, f"/orders/{order_id}")

    async def fills(
        self,
        address: str,
        subaccount_number: int = 0,
        *,
        market: str | None = None,
        limit: int | None = None,
        page: int | None = None,
        created_before_or_at_height: int | None = None,
        created_before_or_at: datetime | None = None,
    ) -> FillsPage:
        params: Params = {
            "address": address,
            "subaccountNumber": subaccount_number,
            "market": market,
            "marketType": "PERPETUAL" if market else None,
            "limit": limit,
            "page": page,
            "createdBeforeOrAtHeight": created_before_or_at_height,
            "createdBeforeOrAt": _iso(created_before_or_at),
        }
        return await self._model(FillsPage, "/fills", params)

    async def historical_pnl(
        self,
        address: str,
        subaccount_number: int = 0,
        *,
        limit: int | None = None,
        page: int | None = None,
        created_before_or_at: datetime | None = None,
        created_on_or_after: datetime | None = None,
    ) -> HistoricalPnlPage:
        params: Params = {
            "address": address,
            "subaccountNumber": subaccount_number,
            "limit": limit,
            "page": page,
            "createdBeforeOrAt": _iso(created_before_or_at),
            "createdOnOrAfter": _iso(created_on_or_after),
        }
        return await self._model(HistoricalPnlPage, "/historical-pnl", params)

    async def orderbook(self, ticker: str) -> Orderbook:
        return await self._model(Orderbook, f"/orderbooks/perpetualMarket/{ticker}")


def _field(body: Any, key: str, path: str) -> Any:
    if not isinstance(body, dict) or key not in body:
        raise IndexerResponseInvalid(f"indexer {path}: expected an object with {key!r}", path=path)
    return body[key]
