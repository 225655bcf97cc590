"""What the node's queries answer, as plain values (the protobuf stays in chain/node/)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from v4_proto.dydxprotocol.clob.clob_pair_pb2 import ClobPair

from dydx_router.chain.errors import (
    ChainQueryFailed,
)
from dydx_router.domain.market import ClobPairStatus


@dataclass(frozen=True, slots=True)
class LatestBlock:
    height: int
    time: datetime


@dataclass(frozen=True, slots=True)
class Account:
    address: str
    account_number: int
    sequence: int


@dataclass(frozen=True, slots=True)
class ClobPairInfo:
    id: int
    perpetual_id: int
    step_base_quantums: int
    subticks_per_tick: int
    quantum_conversion_exponent: int
    status: ClobPairStatus


@dataclass(frozen=True, slots=True)
class PerpetualInfo:
    id: int
    ticker: str
    market_id: int
    atomic_resolution: int
    liquidity_tier: int
    market_type: str  # CROSS | ISOLATED


@dataclass(frozen=True, slots=True)
class OraclePrice:
    market_id: int
    exponent: int
    price: int

    @property
    def human(self) -> Decimal:
        """Oracle price in USD: price × 10^exponent (exact)."""
        return Decimal(f"{self.price}E{self.exponent}")


@dataclass(frozen=True, slots=True)
class AssetPositionInfo:
    asset_id: int
    quantums: int  # signed


@dataclass(frozen=True, slots=True)
class PerpetualPositionInfo:
    perpetual_id: int
    quantums: int  # signed: negative is short
    funding_index: int
    quote_balance: int


@dataclass(frozen=True, slots=True)
class SubaccountInfo:
    owner: str
    number: int
    asset_positions: tuple[AssetPositionInfo, ...]
    perpetual_positions: tuple[PerpetualPositionInfo, ...]
    margin_enabled: bool


@dataclass(frozen=True, slots=True)
class RateLimit:
    limit: int
    num_blocks: int


@dataclass(frozen=True, slots=True)
class BlockRateLimits:
    short_term_orders: tuple[RateLimit, ...]
    stateful_orders: tuple[RateLimit, ...]
    short_term_cancels: tuple[RateLimit, ...]
    short_term_orders_and_cancels: tuple[RateLimit, ...]


@dataclass(frozen=True, slots=True)
class SimulateResult:
    gas_wanted: int
    gas_used: int


@dataclass(frozen=True, slots=True)
class TxResult:
    tx_hash: str
    height: int
    code: int
    codespace: str
    raw_log: str


def decode_serializable_int(raw: bytes) -> int:
    """``dtypes.SerializableInt`` (Go ``big.Int.GobEncode``): 0x02/0x03 sign byte, big-endian."""
    if not raw:
        return 0
    magnitude = int.from_bytes(raw[1:], "big")
    if raw[0] == 0x03:
        return -magnitude
    if raw[0] != 0x02:
        raise ChainQueryFailed(f"unexpected SerializableInt header byte {raw[0]:#x}")
    return magnitude


def _status(value: int) -> ClobPairStatus:
    return ClobPairStatus(ClobPair.Status.Name(value).removeprefix("STATUS_"))
