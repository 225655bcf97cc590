"""The validator node client over ``grpc.aio``: `NodeClient` (client.py: the queries and the
broadcast) over `NodeTransport` (transport.py: deadlines, failover across health-ranked endpoints,
retries, breakers, the background health monitor; its docstring tells the rules), answering the
plain values of models.py."""

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
