"""The node client's transport: calls over ``grpc.aio`` to health-scored endpoints, with breakers
and failover.

Every call carries a deadline. Transport failures (UNAVAILABLE, DEADLINE_EXCEEDED,
RESOURCE_EXHAUSTED — public nodes throttle — and UNIMPLEMENTED, an endpoint
that is not a dYdX node) move to the next endpoint and repeat the *same* request there; a
broadcast is repeated with the same bytes, so a failover never creates a second order. When every
endpoint has failed, the call is retried with exponential backoff and jitter inside a total time
budget (``chain/retries.py``), then raises :class:`ChainUnavailable` (or :class:`ChainTimeout`,
whose outcome is unknown for a broadcast). Other statuses are translated into the typed errors of
``chain/errors.py``; nothing here lets a ``grpc.aio.AioRpcError`` escape.

Endpoints are ranked by health (latency, errors, block-height lag) and each has a circuit breaker:
while every breaker is open a call fails at once with ``ChainUnavailable`` (``circuit_open``)
instead of waiting for a deadline. :meth:`NodeClient.monitor` probes every endpoint in the
background (the half-open probes, latency and height lag), so the request path never pays for it.

The blocking stubs are never used: ``v4_proto`` stubs are bound to ``grpc.aio`` channels, so
every method returns an awaitable (the official client's async methods block: v4-client-py-v2
``dydx_v4_client/network.py`` uses a blocking ``grpc.Channel``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Self

import grpc
import structlog
from v4_proto.cosmos.auth.v1beta1 import query_pb2_grpc as auth_grpc
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2 as tm_query
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2_grpc as tm_grpc
from v4_proto.cosmos.tx.v1beta1 import service_pb2 as tx_service
from v4_proto.cosmos.tx.v1beta1 import service_pb2_grpc as tx_grpc
from v4_proto.dydxprotocol.clob import query_pb2_grpc as clob_grpc
from v4_proto.dydxprotocol.perpetuals import query_pb2_grpc as perp_grpc
from v4_proto.dydxprotocol.prices import query_pb2_grpc as price_grpc
from v4_proto.dydxprotocol.subaccounts import query_pb2_grpc as sub_grpc

from dydx_router.chain.errors import (
    ChainError,
    ChainQueryFailed,
    ChainTimeout,
    ChainUnavailable,
)
from dydx_router.chain.resilience import EndpointPool, HealthPolicy, circuit_open_error
from dydx_router.chain.retries import RetryPolicy, call_with_retries

log = structlog.get_logger(__name__)

_SC = grpc.StatusCode
# Statuses that say "this endpoint cannot serve you now", not "your request is wrong".
_FAILOVER = frozenset(
    {_SC.UNAVAILABLE, _SC.DEADLINE_EXCEEDED, _SC.RESOURCE_EXHAUSTED, _SC.UNIMPLEMENTED}
)
BASE_ACCOUNT_URL = "/cosmos.auth.v1beta1.BaseAccount"
PAGE_LIMIT = 1000
# cosmos.tx.v1beta1.BroadcastMode: SYNC returns the CheckTx result (cosmos-sdk
# proto/cosmos/tx/v1beta1/service.proto).
BROADCAST_SYNC = tx_service.BroadcastMode.BROADCAST_MODE_SYNC
# gRPC's own reconnect backoff grows to 120 s by default; the breakers already pace the attempts
# on a failing endpoint, so a recovered node must be reachable within seconds, not minutes.
_CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
)


class Endpoint(Protocol):
    """A gRPC endpoint (``config.NodeEndpoint`` is one): ``host:port`` and whether to use TLS."""

    @property
    def target(self) -> str: ...

    @property
    def tls(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class GrpcEndpoint:
    target: str
    tls: bool = False


@dataclass(slots=True)
class Stubs:
    channel: Any
    tx: Any
    auth: Any
    tendermint: Any
    clob: Any
    perpetuals: Any
    prices: Any
    subaccounts: Any


class CallState:
    """Per-call facts the retry loop carries: did an earlier attempt possibly reach a node?"""

    __slots__ = ("maybe_sent",)

    def __init__(self) -> None:
        self.maybe_sent = False


class NodeTransport:
    """Calls against a health-ranked list of validator gRPC endpoints: failover, retries,
    breakers and the background health monitor; `NodeClient` adds the queries."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        *,
        timeout: float = 5.0,
        broadcast_timeout: float = 10.0,
        tls_root_certificates: bytes | None = None,
        health: HealthPolicy | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        """``timeout``/``broadcast_timeout``: the deadline of one attempt; ``retry.budget_s``
        bounds a whole call, retries included. ``tls_root_certificates``: PEM roots for TLS
        endpoints (default: the system's)."""
        if not endpoints:
            raise ValueError("at least one node endpoint is required")
        self._endpoints = list(endpoints)
        self._pool: EndpointPool[Endpoint] = EndpointPool(
            self._endpoints, [ep.target for ep in self._endpoints], health, upstream="node"
        )
        self._timeout = timeout
        self._broadcast_timeout = broadcast_timeout
        self._retry = retry or RetryPolicy(budget_s=max(timeout, broadcast_timeout))
        self._tls_roots = tls_root_certificates
        self._stubs: dict[int, Stubs] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        stubs, self._stubs = self._stubs, {}
        for s in stubs.values():
            await s.channel.close()

    @property
    def current_endpoint(self) -> str:
        return self._endpoints[self._pool.current].target

    @property
    def pool(self) -> EndpointPool[Endpoint]:
        """Breakers and health of every endpoint (read-only use: readiness, metrics)."""
        return self._pool

    def unavailable_for(self) -> float | None:
        """None if a call could go out now; else seconds until an endpoint may be tried."""
        return self._pool.unavailable_for()

    def _stubs_for(self, index: int) -> Stubs:
        stubs = self._stubs.get(index)
        if stubs is None:
            ep = self._endpoints[index]
            # Channels are created lazily, inside the running loop they belong to.
            channel = (
                grpc.aio.secure_channel(
                    ep.target,
                    grpc.ssl_channel_credentials(root_certificates=self._tls_roots),
                    options=_CHANNEL_OPTIONS,
                )
                if ep.tls
                else grpc.aio.insecure_channel(ep.target, options=_CHANNEL_OPTIONS)
            )
            stubs = Stubs(
                channel=channel,
                tx=tx_grpc.ServiceStub(channel),
                auth=auth_grpc.QueryStub(channel),
                tendermint=tm_grpc.ServiceStub(channel),
                clob=clob_grpc.QueryStub(channel),
                perpetuals=perp_grpc.QueryStub(channel),
                prices=price_grpc.QueryStub(channel),
                subaccounts=sub_grpc.QueryStub(channel),
            )
            self._stubs[index] = stubs
        return stubs

    async def _call(
        self,
        rpc: Callable[[Stubs], Callable[..., Awaitable[Any]]],
        request: Any,
        *,
        deadline: float | None = None,
        on_error: Callable[[grpc.aio.AioRpcError], ChainError | None] | None = None,
        check: Callable[[Any, CallState], Any] | None = None,
    ) -> Any:
        """One logical call: failover across endpoints, then retries within the budget.

        The first attempt runs without any retry machinery (the hot path); only after it failed
        with a retryable error does tenacity take over.
        """
        state = CallState()

        def attempt(limit: float) -> Awaitable[Any]:
            return self._attempt(rpc, request, limit, on_error, check, state)

        return await call_with_retries(
            self._retry, attempt, self._timeout if deadline is None else deadline
        )

    async def _attempt(
        self,
        rpc: Callable[[Stubs], Callable[..., Awaitable[Any]]],
        request: Any,
        deadline: float,
        on_error: Callable[[grpc.aio.AioRpcError], ChainError | None] | None,
        check: Callable[[Any, CallState], Any] | None,
        state: CallState,
    ) -> Any:
        pool = self._pool
        last: grpc.aio.AioRpcError | None = None
        for index in pool.candidates():
            began = time.monotonic()
            try:
                response = await rpc(self._stubs_for(index))(request, timeout=deadline)
            except grpc.aio.AioRpcError as e:
                if e.code() in _FAILOVER:
                    last = e
                    pool.failed(index)
                    state.maybe_sent = True
                    log.warning(
                        "node_endpoint_failed",
                        endpoint=self._endpoints[index].target,
                        status=e.code().name,
                    )
                    continue
                pool.succeeded(index, time.monotonic() - began)  # it answered: it is up
                mapped = on_error(e) if on_error else None
                raise (mapped or _query_failed(e)) from e
            pool.succeeded(index, time.monotonic() - began)
            return response if check is None else check(response, state)
        if last is None:
            wait = pool.retry_after()
            raise circuit_open_error(ChainUnavailable, "node", pool, wait)
        targets = ", ".join(ep.target for ep in self._endpoints)
        cls = ChainTimeout if last.code() is _SC.DEADLINE_EXCEEDED else ChainUnavailable
        raise cls(
            f"no node endpoint answered ({targets}): {last.code().name}",
            status=last.code().name,
        ) from last

    async def monitor(
        self,
        *,
        interval: float = 0.5,
        probe_timeout: float = 1.0,
        on_height: Callable[[int], None] | None = None,
    ) -> None:
        """Probe every endpoint forever (a background task): GetLatestBlock on each measures
        latency and height lag, and is the half-open probe of an open breaker. ``on_height``
        receives the best height of each round in which some endpoint answered."""
        pool = self._pool
        pool.traffic_probes = False  # probes are ours now: no request waits on a sick endpoint
        try:
            while True:
                results = await asyncio.gather(
                    *(self._probe(i, probe_timeout) for i in range(len(pool)))
                )
                pool.rerank()
                heights = [h for h in results if h is not None]
                if heights and on_height is not None:
                    on_height(max(heights))
                await asyncio.sleep(interval)
        finally:
            pool.traffic_probes = True

    async def _probe(self, index: int, deadline: float) -> int | None:
        if not self._pool.health[index].breaker.closed and not self._pool.claim_probe(index):
            return None
        began = time.monotonic()
        try:
            resp = await self._stubs_for(index).tendermint.GetLatestBlock(
                tm_query.GetLatestBlockRequest(), timeout=deadline
            )
        except grpc.aio.AioRpcError as e:
            self._pool.failed(index)
            log.debug(
                "node_probe_failed", endpoint=self._endpoints[index].target, status=e.code().name
            )
            return None
        height = int(block_header(resp).height)
        self._pool.succeeded(index, time.monotonic() - began, height)
        return height


def block_header(resp: Any) -> Any:
    return resp.sdk_block.header if resp.HasField("sdk_block") else resp.block.header


def _query_failed(e: grpc.aio.AioRpcError) -> ChainQueryFailed:
    return ChainQueryFailed(
        f"node query failed: {e.code().name}: {e.details()}", status=e.code().name
    )
