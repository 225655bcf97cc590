"""The indexer as a devnet attachment: REST (uvicorn) and websocket servers fed by the event bus.

One task consumes the bus in order and applies each batch to the `Projection`, then fans out
the websocket messages it produced. The REST handlers read the projection synchronously on the
same event loop, so every answer reflects a whole number of batches.

Fault switches (`dydx_devnet.faults.Faults`): `indexer_lag_blocks` holds back on-chain batches
(and everything after them, to keep the order) until the chain is that many blocks ahead;
`indexer_latency_s` and `indexer_unavailable` are applied by the HTTP and websocket layers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import traceback
from collections import deque
from collections.abc import Generator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import uvicorn
from starlette.middleware.cors import CORSMiddleware

from dydx_devnet.events import EventBatch, EventBus
from dydx_devnet.indexer.projection import Projection
from dydx_devnet.indexer.rest import FaucetPort, IndexerApi
from dydx_devnet.indexer.ws import SocksServer
from dydx_devnet.state import ChainState

if TYPE_CHECKING:
    from dydx_devnet.host import DevnetHost

# How often a held-back (lagging) batch is re-checked when no new batch arrives.
_LAG_POLL_S = 0.05


class LagFaults(Protocol):
    indexer_lag_blocks: int
    indexer_latency_s: float
    indexer_unavailable: bool


class _Uvicorn(uvicorn.Server):
    """uvicorn without its signal handlers: the devnet process owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Indexer:
    """The indexer's data and servers. `start(...)` binds both ports (0 = any free port)."""

    def __init__(
        self,
        state: ChainState,
        bus: EventBus,
        *,
        faults: LagFaults | None = None,
        faucet: FaucetPort | None = None,
    ) -> None:
        self.state = state
        self.faults = faults
        self.projection = Projection(state)
        self.api = IndexerApi(self.projection, faults, faucet)
        self.socks = SocksServer(self.projection, faults)
        self.projection.wanted = self.socks.has_subscribers
        self._subscription = bus.subscribe()
        self._held: deque[EventBatch] = deque()
        self._consumer: asyncio.Task[None] | None = None
        self._http: _Uvicorn | None = None
        self._http_task: asyncio.Task[None] | None = None
        self.rest_port = 0
        self.ws_port = 0

    async def start(self, host: str, rest_port: int, ws_port: int) -> None:
        self._consumer = asyncio.create_task(self._consume_or_fail(), name="indexer-consumer")
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets whose proto says
        # TCP; without it uvicorn's separate header/body writes meet Nagle + delayed ACK (~40 ms).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, rest_port))
        self.rest_port = sock.getsockname()[1]
        config = uvicorn.Config(
            # comlink answers every origin (express `cors()`, indexer services/comlink
            # src/index.ts), which web apps on another origin rely on
            CORSMiddleware(
                self.api.app(), allow_origins=["*"], allow_methods=["*"], allow_headers=["*"]
            ),
            log_level="warning",
            access_log=False,
            lifespan="off",
            # The router's benchmarks keep connections open; don't drop them after 5 s idle.
            timeout_keep_alive=30,
        )
        self._http = _Uvicorn(config)
        self._http_task = asyncio.create_task(self._http.serve(sockets=[sock]), name="indexer-rest")
        while not self._http.started:
            if self._http_task.done():
                self._http_task.result()  # re-raise the startup error
            await asyncio.sleep(0.01)
        self.ws_port = await self.socks.start(host, ws_port)

    async def stop(self) -> None:
        await self.socks.stop()
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            await self._http_task
            self._http = None
        self._subscription.close()
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._consumer
            self._consumer = None

    # ---- the event consumer ----------------------------------------------------------------
    async def _consume(self) -> None:
        while True:
            if self._held:
                try:
                    batch = await asyncio.wait_for(self._subscription.get(), _LAG_POLL_S)
                except TimeoutError:
                    batch = None
                else:
                    if batch is None:
                        return
                    self._held.append(batch)
            else:
                batch = await self._subscription.get()
                if batch is None:
                    return
                self._held.append(batch)
            self._release()

    def _release(self) -> None:
        lag = self.faults.indexer_lag_blocks if self.faults is not None else 0
        while self._held:
            block = self._held[0].block
            if block is not None and lag > 0 and self.state.height - block.height < lag:
                return
            self.apply(self._held.popleft())

    def apply(self, batch: EventBatch) -> None:
        self.socks.publish(self.projection.apply(batch))

    async def _consume_or_fail(self) -> None:
        """A batch the projection cannot apply is a bug: stop indexing and make every REST
        answer say so (HTTP 500), instead of serving stale data that looks current."""
        try:
            await self._consume()
        except Exception as e:
            traceback.print_exc(file=sys.stderr)
            self.api.failure = f"the indexer stopped on an event it could not apply: {e!r}"
            raise


class IndexerAttachment:
    """`dydx_devnet.host.Attachment`: binds `devnet.config.indexer_port` / `ws_port` and
    publishes `devnet.indexer_url` and `devnet.ws_url`."""

    def __init__(self) -> None:
        self.indexer: Indexer | None = None

    async def start(self, devnet: DevnetHost) -> None:
        engine: Any = devnet.engine

        def faucet(address: str, subaccount_number: int, usdc: Decimal) -> object:
            result: object = engine.fund(address, subaccount_number, usdc)
            return result

        self.indexer = Indexer(devnet.state, devnet.bus, faults=devnet.faults, faucet=faucet)
        host = devnet.config.host
        await self.indexer.start(host, devnet.config.indexer_port, devnet.config.ws_port)
        devnet.indexer_url = f"http://{host}:{self.indexer.rest_port}"
        devnet.ws_url = f"ws://{host}:{self.indexer.ws_port}/v4/ws"

    async def stop(self) -> None:
        if self.indexer is not None:
            await self.indexer.stop()
            self.indexer = None
