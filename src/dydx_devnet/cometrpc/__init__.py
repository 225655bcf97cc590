"""CometBFT JSON-RPC for the devnet's validators (what CosmJS and the official TypeScript client
`@dydxprotocol/v4-client-js` talk to: `src/clients/modules/tendermintClient.ts`).

Validator i serves it on ``rpc_port + i`` (0: free ports): HTTP JSON-RPC, the URI form and the
websocket (`server`), with CometBFT 0.38's methods and encodings (`methods`, `encode`).
`abci_query` and CheckTx go through the same servicers as the gRPC server (`abci`), so both
transports answer from one implementation; NewBlock and Tx events come from the event bus
(`feed`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dydx_devnet.cometrpc.feed import Feed
from dydx_devnet.cometrpc.server import RpcApp, RpcServer

if TYPE_CHECKING:
    from dydx_devnet.host import DevnetHost

__all__ = ["RpcNodes"]


class RpcNodes:
    """Every validator's RPC server and the feed they share."""

    def __init__(self, devnet: DevnetHost, base_port: int) -> None:
        self.devnet = devnet
        self.base_port = base_port
        n = devnet.config.validators
        self._servers: list[RpcServer | None] = [None] * n
        self._ports = [0] * n
        self.urls: list[str] = [""] * n
        self._feed: Feed | None = None

    async def start(self) -> None:
        self._feed = Feed(self.devnet)
        host = self.devnet.config.host
        for i in range(len(self._servers)):
            server = self._server(i)
            port = await server.start(host, self.base_port + i if self.base_port else 0)
            self._servers[i] = server
            self._ports[i] = port
            self.urls[i] = f"http://{host}:{port}"
            server.rpc.methods.rpc_url = f"tcp://{host}:{port}"

    def _server(self, i: int) -> RpcServer:
        assert self._feed is not None
        return RpcServer(RpcApp(self.devnet, i, self._feed))

    async def apply_faults(self) -> None:
        """``grpc_refuse_connections``: close validator i's RPC port too, reopen it after."""
        for i, faults in enumerate(self.devnet.node_faults):
            server = self._servers[i]
            if faults.grpc_refuse_connections and server is not None:
                self._servers[i] = None
                await server.stop()
            elif not faults.grpc_refuse_connections and server is None and self._ports[i]:
                server = self._server(i)
                await server.start(self.devnet.config.host, self._ports[i])
                server.rpc.methods.rpc_url = f"tcp://{self.devnet.config.host}:{self._ports[i]}"
                self._servers[i] = server

    async def stop(self) -> None:
        self._ports = [0] * len(self._ports)
        for i, server in enumerate(self._servers):
            if server is not None:
                await server.stop()
                self._servers[i] = None
        if self._feed is not None:
            await self._feed.stop()
            self._feed = None
