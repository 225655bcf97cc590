"""The validator node client over ``grpc.aio`` with health-scored endpoints, breakers and failover:
`NodeClient` (client.py: the queries and broadcast) over `NodeTransport` (transport.py), answering
the plain values of models.py.

Every call carries a deadline. Transport failures (UNAVAILABLE, DEADLINE_EXCEEDED,
RESOURCE_EXHAUSTED — public nodes throttle, PROTOCOL.md §11.13 — and UNIMPLEMENTED, an endpoint
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
every method returns an awaitable (the official client's async methods block, PROTOCOL.md §0.8).
"""

from __future__ import annotations

from dydx_router.chain.node.client import NodeClient
from dydx_router.chain.node.models import (
    Account,
    AssetPositionInfo,
    BlockRateLimits,
    ClobPairInfo,
    LatestBlock,
    OraclePrice,
    PerpetualInfo,
    PerpetualPositionInfo,
    RateLimit,
    SimulateResult,
    SubaccountInfo,
    TxResult,
    decode_serializable_int,
)
from dydx_router.chain.node.transport import Endpoint, GrpcEndpoint, NodeTransport

__all__ = [
    "Account",
    "AssetPositionInfo",
    "BlockRateLimits",
    "ClobPairInfo",
    "Endpoint",
    "GrpcEndpoint",
    "LatestBlock",
    "NodeClient",
    "NodeTransport",
    "OraclePrice",
    "PerpetualInfo",
    "PerpetualPositionInfo",
    "RateLimit",
    "SimulateResult",
    "SubaccountInfo",
    "TxResult",
    "decode_serializable_int",
]
