"""What the devnet's servers see of the devnet that runs them: its config and the `DevnetHost` port.

`dydx_devnet.app.Devnet` builds the servers (gRPC node, CometBFT JSON-RPC, admin, indexer) and
hands each itself; the servers know it only through `DevnetHost`, so none of them imports the
composition root that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from dydx_devnet.engine import Engine
from dydx_devnet.events import EventBus
from dydx_devnet.faults import Faults
from dydx_devnet.state import ChainState

TIMEOUT_BROADCAST_TX_COMMIT_S = 10.0  # CometBFT config/config.go DefaultRPCConfig


@dataclass(frozen=True, slots=True)
class DevnetConfig:
    host: str = "127.0.0.1"
    grpc_port: int = 9090
    indexer_port: int = 3002
    ws_port: int = 3003
    admin_port: int = 3010
    block_time: float = 1.0  # seconds; 0 = blocks only when stepped through the admin API
    seed: int = 0
    fund: tuple[tuple[str, Decimal], ...] = field(default=())
    short_term_limit: int = 2000
    stateful_scale: int = 1  # multiplies the stateful block rate limits (benchmarks)
    market_makers: bool = True
    oracle_walk: bool = True
    validators: int = 1  # validator i serves gRPC on grpc_port + i (0: free ports)
    gossip_delay: float = 0.2  # seconds before a tx accepted by one validator reaches the others
    # CometBFT JSON-RPC: validator i on rpc_port + i (0: free ports); None: not served (the CLI
    # serves it on 26657 by default)
    rpc_port: int | None = None
    # seconds broadcast_tx_commit waits for its block (CometBFT `config/config.go`
    # timeout_broadcast_tx_commit, default 10 s, which dYdX's config.go keeps)
    timeout_broadcast_tx_commit: float = TIMEOUT_BROADCAST_TX_COMMIT_S
    # x/accountplus genesis Params.is_smart_account_active (true, as on mainnet)
    smart_account_active: bool = True


class DevnetHost(Protocol):
    """The running devnet as its servers use it (`dydx_devnet.app.Devnet` is the one)."""

    config: DevnetConfig
    state: ChainState
    bus: EventBus
    engine: Engine
    # the switches as set for every validator (and the chain's and indexer's own); node_faults[i]:
    # validator i's node switches
    faults: Faults
    node_faults: list[Faults]
    grpc_targets: list[str]
    rpc_urls: list[str]
    admin_url: str
    indexer_url: str  # published by the indexer's attachment when it starts
    ws_url: str

    @property
    def grpc_target(self) -> str: ...

    def set_faults(self, values: dict[str, Any], validator: int | None = None) -> None: ...

    def reset_faults(self, validator: int | None = None) -> None: ...

    async def apply_faults(self) -> None: ...

    def step_blocks(self, n: int = 1) -> int: ...


class Attachment(Protocol):
    """A server that attaches to the devnet (`Devnet.attach`) and starts and stops with it."""

    async def start(self, devnet: DevnetHost) -> None: ...

    async def stop(self) -> None: ...
