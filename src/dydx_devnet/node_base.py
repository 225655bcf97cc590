"""What every servicer of the devnet's node shares: the fault gate, proto conversions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from v4_proto.cosmos.base.query.v1beta1 import pagination_pb2
from v4_proto.dydxprotocol.clob import clob_pair_pb2
from v4_proto.dydxprotocol.perpetuals import perpetual_pb2
from v4_proto.dydxprotocol.subaccounts import (
    asset_position_pb2,
    perpetual_position_pb2,
    subaccount_pb2,
)

from dydx_devnet.model import Market, Subaccount

if TYPE_CHECKING:
    from dydx_devnet.host import DevnetHost
from dydx_devnet.faults import Faults

APP_VERSION = "9.6.1"  # the protocol version whose rules the devnet follows
USDC_DENOM = "ibc/8E27BA2D5493AF5636760E354E46004562C46AB7EC0CC4C1CA14E9E20E2545B5"


def serializable_int(value: int) -> bytes:
    """`dtypes.SerializableInt` (Go big.Int GobEncode): 0x02 (>= 0) or 0x03 (< 0), then the
    big-endian magnitude; zero is b"\\x02" (`protocol/dtypes/serializable_int.go`)."""
    sign = b"\x03" if value < 0 else b"\x02"
    mag = abs(value)
    return sign + (mag.to_bytes((mag.bit_length() + 7) // 8, "big") if mag else b"")


def page(total: int) -> pagination_pb2.PageResponse:
    return pagination_pb2.PageResponse(total=total)


def timestamp(ms: int) -> Timestamp:
    ts = Timestamp()
    ts.FromMilliseconds(ms)
    return ts


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clob_pair_proto(m: Market) -> clob_pair_pb2.ClobPair:
    c = m.clob_pair
    return clob_pair_pb2.ClobPair(
        id=c.id,
        perpetual_clob_metadata=clob_pair_pb2.PerpetualClobMetadata(perpetual_id=c.perpetual_id),
        step_base_quantums=c.step_base_quantums,
        subticks_per_tick=c.subticks_per_tick,
        quantum_conversion_exponent=c.quantum_conversion_exponent,
        status=int(c.status),
    )


def subaccount_proto(s: Subaccount) -> subaccount_pb2.Subaccount:
    assets = (
        [asset_position_pb2.AssetPosition(asset_id=0, quantums=serializable_int(s.usdc_quantums))]
        if s.usdc_quantums
        else []
    )
    return subaccount_pb2.Subaccount(
        id=subaccount_pb2.SubaccountId(owner=s.id.owner, number=s.id.number),
        asset_positions=assets,
        perpetual_positions=[
            perpetual_position_pb2.PerpetualPosition(
                perpetual_id=p.perpetual_id,
                quantums=serializable_int(p.quantums),
                funding_index=serializable_int(p.funding_index),
                quote_balance=serializable_int(p.quote_balance),
            )
            for p in s.perpetual_positions
        ],
        margin_enabled=s.margin_enabled,
    )


class Base:
    """A servicer of validator ``index``: queries read the committed state; the fault switches
    are that validator's."""

    def __init__(self, devnet: DevnetHost, index: int = 0) -> None:
        self.devnet = devnet
        self.index = index

    @property
    def state(self) -> Any:
        return self.devnet.state

    @property
    def faults(self) -> Faults:
        return self.devnet.node_faults[self.index]

    async def gate(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        if getattr(context, "faults_applied", False):
            return  # a call over CometBFT RPC: that transport applied the switches once already
        f = self.faults
        if f.grpc_latency_s > 0:
            await asyncio.sleep(f.grpc_latency_s)
        if f.grpc_unavailable:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "devnet fault: node unavailable")
        chosen = f.take_grpc_error() if f.grpc_error is not None else None
        if chosen is not None:
            await context.abort(chosen.code, f"devnet fault: {chosen.message}")


def perpetual_proto(devnet: DevnetHost, m: Market) -> perpetual_pb2.Perpetual:
    p = m.perpetual
    state = devnet.state
    return perpetual_pb2.Perpetual(
        params=perpetual_pb2.PerpetualParams(
            id=p.id,
            ticker=p.ticker,
            market_id=p.market_id,
            atomic_resolution=p.atomic_resolution,
            default_funding_ppm=p.default_funding_ppm,
            liquidity_tier=p.liquidity_tier,
            market_type=int(p.market_type),
        ),
        funding_index=serializable_int(state.funding_index(p.id)),
        open_interest=serializable_int(state.open_interest(p.id)),
    )
