"""The composition root of the devnet: one `Devnet` object owns everything.

``Devnet(config)`` builds the chain state (from genesis), the engine (CheckTx, matching, blocks),
the event bus, the fault switches, the gRPC node and the admin HTTP server. ``await start()``
binds the sockets (port 0 = a free port) and starts the block loop; ``await stop()`` undoes it.
With ``validators=N`` validator i serves gRPC on ``grpc_port + i`` (and CometBFT JSON-RPC on
``rpc_port + i`` when ``rpc_port`` is set, `dydx_devnet.cometrpc`); txs a validator accepts
reach the others after ``gossip_delay`` seconds (`dydx_devnet.engine`).

Other servers attach to it (the indexer's REST and websocket servers do) by implementing
`Attachment` (`dydx_devnet.host`, with `DevnetHost`, the port through which every server sees the
devnet, so that none imports this module) and calling ``devnet.attach(obj)`` *before* ``start()``::

    class IndexerServers:
        async def start(self, devnet: DevnetHost) -> None:
            # read devnet.state / subscribe devnet.bus; bind devnet.config.indexer_port and
            # devnet.config.ws_port; then publish the URLs:
            devnet.indexer_url = "http://127.0.0.1:3002"
            devnet.ws_url = "ws://127.0.0.1:3003/v4/ws"
        async def stop(self) -> None: ...

Attachments start after the gRPC server and before the block loop (so a subscriber sees every
block), and stop first. The CLI attaches ``dydx_devnet.indexer.create_attachment()`` when that
package provides it (``--no-indexer`` runs without).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from dydx_devnet.admin import AdminServer
from dydx_devnet.cometrpc import RpcNodes
from dydx_devnet.engine import Engine
from dydx_devnet.events import EventBus
from dydx_devnet.faults import NODE_SWITCHES, Faults
from dydx_devnet.genesis import default_genesis
from dydx_devnet.host import Attachment, DevnetConfig, DevnetHost
from dydx_devnet.node import NodeServer
from dydx_devnet.state import ChainState

__all__ = ["Attachment", "Devnet", "DevnetConfig", "DevnetHost"]


class Devnet:
    def __init__(self, config: DevnetConfig | None = None) -> None:
        self.config = config or DevnetConfig()
        genesis = default_genesis(
            short_term_limit=self.config.short_term_limit,
            stateful_scale=self.config.stateful_scale,
            smart_account_active=self.config.smart_account_active,
        )
        self.state = ChainState(genesis, genesis_time_ms=int(time.time() * 1000))
        self.bus = EventBus()
        n = self.config.validators
        if n < 1:
            raise ValueError("validators must be >= 1")
        if self.config.gossip_delay < 0:
            raise ValueError("gossip_delay must be >= 0")
        # `faults`: the switches as set for every validator, and the chain's and indexer's own;
        # `node_faults[i]`: validator i's node switches.
        self.faults = Faults()
        self.node_faults = [Faults() for _ in range(n)]
        self.engine = Engine(
            self.state,
            self.bus,
            seed=self.config.seed,
            market_makers=self.config.market_makers,
            oracle_walk=self.config.oracle_walk,
            validators=n,
        )
        for address, usdc in self.config.fund:
            self.engine.fund(address, 0, usdc)
        self._attachments: list[Attachment] = []
        self._block_task: asyncio.Task[None] | None = None
        self._grpc: list[NodeServer | None] = [None] * n
        self._grpc_ports = [0] * n
        self._admin: AdminServer | None = None
        self.grpc_targets: list[str] = [""] * n
        self._rpc: RpcNodes | None = None
        self.rpc_urls: list[str] = []
        self.admin_url = ""
        self.indexer_url = ""
        self.ws_url = ""

    def attach(self, attachment: Attachment) -> None:
        self._attachments.append(attachment)

    @property
    def grpc_target(self) -> str:
        """Validator 0's gRPC address."""
        return self.grpc_targets[0]

    async def start(self) -> None:
        delay = self.config.gossip_delay
        if delay > 0:
            loop = asyncio.get_running_loop()

            def schedule(gossip: Callable[[], None]) -> None:
                loop.call_later(delay, gossip)

            self.engine.schedule = schedule
        base = self.config.grpc_port
        for i in range(self.config.validators):
            grpc_server = NodeServer(self, i)
            port = await grpc_server.start(self.config.host, base + i if base else 0)
            self._grpc[i] = grpc_server
            self._grpc_ports[i] = port
            self.grpc_targets[i] = f"{self.config.host}:{port}"
        if self.config.rpc_port is not None:
            self._rpc = RpcNodes(self, self.config.rpc_port)
            await self._rpc.start()
            self.rpc_urls = self._rpc.urls
        admin = AdminServer(self)
        admin_port = await admin.start(self.config.host, self.config.admin_port)
        self._admin = admin
        self.admin_url = f"http://{self.config.host}:{admin_port}"
        for a in self._attachments:
            await a.start(self)
        # Block 1 is committed at start so the chain has a height and a block time.
        self.engine.commit_block()
        if self.config.block_time > 0:
            self._block_task = asyncio.create_task(self._block_loop(), name="devnet-blocks")

    async def _block_loop(self) -> None:
        interval = self.config.block_time
        next_at = time.monotonic() + interval
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval
            if next_at < time.monotonic():  # fell behind (e.g. a long pause): don't burst
                next_at = time.monotonic() + interval
            if not self.faults.block_stall:
                self.engine.commit_block()

    def set_faults(self, values: dict[str, Any], validator: int | None = None) -> None:
        """Set switches for one validator, or for every validator (and the chain's and indexer's
        own switches) when ``validator`` is None. Raises KeyError, TypeError, ValueError."""
        if validator is None:
            self.faults.update(values)
            node = {k: v for k, v in values.items() if k in NODE_SWITCHES}
            for f in self.node_faults:
                f.update(node)
            return
        if not 0 <= validator < len(self.node_faults):
            raise ValueError(f"no validator {validator} (validators: {len(self.node_faults)})")
        other = sorted(set(values) - NODE_SWITCHES)
        if other:
            if other[0] not in Faults.__dataclass_fields__:
                raise KeyError(other[0])
            raise ValueError(f"{other[0]} is not a validator's switch: set it without ?validator")
        self.node_faults[validator].update(values)

    def reset_faults(self, validator: int | None = None) -> None:
        if validator is None:
            self.faults.reset()
            for f in self.node_faults:
                f.reset()
        else:
            self.node_faults[validator].reset()

    async def apply_faults(self) -> None:
        """Act on switches that need more than a flag read per request: open or close a
        validator's gRPC port for ``grpc_refuse_connections`` (same port, so clients reconnect by
        themselves)."""
        for i, faults in enumerate(self.node_faults):
            refuse = faults.grpc_refuse_connections
            server = self._grpc[i]
            if refuse and server is not None:
                self._grpc[i] = None
                await server.stop(grace=0)
            elif not refuse and server is None and self._grpc_ports[i]:
                server = NodeServer(self, i)
                await server.start(self.config.host, self._grpc_ports[i])
                self._grpc[i] = server
        if self._rpc is not None:
            await self._rpc.apply_faults()

    def step_blocks(self, n: int = 1) -> int:
        """Commit ``n`` blocks now (whatever the block time); returns the new height."""
        for _ in range(n):
            self.engine.commit_block()
        return self.state.height

    def ready_line(self) -> str:
        rpc = f" rpc={','.join(self.rpc_urls)}" if self.rpc_urls else ""
        return (
            f"DEVNET READY grpc={','.join(self.grpc_targets)} indexer={self.indexer_url} "
            f"ws={self.ws_url} admin={self.admin_url}{rpc}"
        )

    async def stop(self) -> None:
        if self._block_task is not None:
            self._block_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._block_task
            self._block_task = None
        for a in reversed(self._attachments):
            await a.stop()
        if self._admin is not None:
            await self._admin.stop()
            self._admin = None
        if self._rpc is not None:
            await self._rpc.stop()
            self._rpc = None
        self._grpc_ports = [0] * len(self._grpc_ports)  # stopped for good: never reopened
        for i, server in enumerate(self._grpc):
            if server is not None:
                await server.stop()
                self._grpc[i] = None
        self.bus.close()
