"""A thin HTTP wrapper around the official ``dydx-v4-client==1.1.5``: what a user would put in
front of it to get an order API. Runs INSIDE ``.venv-official``
(``scripts/official_client_venv.py``).

    .venv-official/bin/python bench/official_wrapper.py --grpc H:P --indexer URL --port P \\
        --mnemonic "..."

``POST /v1/orders`` with the router's body (market, side, LIMIT, size, price, good_til_blocks,
post_only / time_in_force) places a short-term order the way the client's own examples do
(``examples/short_term_order_composite_example.py``): latest height from the node, an order id with
a random client id, ``Market.order`` and ``NodeClient.place_order``. It answers
``{"status": "SUBMITTED" | "REJECTED", "error": ...}`` like the router. Nothing is persisted, so
the comparison favours the wrapper. The HTTP layer is a minimal asyncio server (cheaper than any
framework) so that what is measured is the client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from typing import Any

from dydx_v4_client import OrderFlags
from dydx_v4_client.indexer.rest.constants import OrderType
from dydx_v4_client.indexer.rest.indexer_client import IndexerClient
from dydx_v4_client.network import make_local
from dydx_v4_client.node.client import NodeClient
from dydx_v4_client.node.market import Market
from dydx_v4_client.wallet import Wallet
from v4_proto.dydxprotocol.clob.order_pb2 import Order

TIF = {
    None: Order.TimeInForce.TIME_IN_FORCE_UNSPECIFIED,
    "GTT": Order.TimeInForce.TIME_IN_FORCE_UNSPECIFIED,
    "IOC": Order.TimeInForce.TIME_IN_FORCE_IOC,
    "POST_ONLY": Order.TimeInForce.TIME_IN_FORCE_POST_ONLY,
}


class Wrapper:
    def __init__(self, node: Any, wallet: Any, markets: dict[str, Any]) -> None:
        self.node, self.wallet, self.markets = node, wallet, markets

    async def place(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
        market = self.markets[body["market"]]
        client_id = random.randint(0, 2**32 - 1)
        order_id = market.order_id(self.wallet.address, 0, client_id, OrderFlags.SHORT_TERM)
        height = await self.node.latest_block_height()
        tif = "POST_ONLY" if body.get("post_only") else body.get("time_in_force")
        order = market.order(
            order_id,
            OrderType.LIMIT,
            Order.Side.SIDE_BUY if body["side"] == "BUY" else Order.Side.SIDE_SELL,
            size=float(body["size"]),
            price=float(body["price"]),
            time_in_force=TIF[tif],
            reduce_only=False,
            good_til_block=height + int(body.get("good_til_blocks", 20)),
        )
        start = time.perf_counter()
        response = await self.node.place_order(self.wallet, order)
        chain_s = time.perf_counter() - start
        r = response.tx_response
        if r.code == 0:
            return 201, {"status": "SUBMITTED", "tx_hash": r.txhash}, chain_s
        error = {"codespace": r.codespace, "code": r.code, "log": r.raw_log}
        return 201, {"status": "REJECTED", "error": error}, chain_s


async def handle(wrapper: Wrapper, reader: Any, writer: Any) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            length = 0
            for line in lines[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v)
            body = json.loads(await reader.readexactly(length)) if length else {}
            start = time.perf_counter()
            try:
                status, out, chain_s = await wrapper.place(body)
            except Exception as e:  # a wrapper answers 500 with the cause
                status, out, chain_s = 500, {"error": {"code": type(e).__name__}}, 0.0
            total_ms = (time.perf_counter() - start) * 1000
            payload = json.dumps(out).encode()
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n"
                f"Server-Timing: chain;dur={chain_s * 1000:.3f}, total;dur={total_ms:.3f}\r\n"
                "\r\n".encode()
                + payload
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def main_async(args: argparse.Namespace) -> None:
    network = make_local(node_url=args.grpc, rest_indexer=args.indexer, websocket_indexer="")
    node = await NodeClient.connect(network.node)
    indexer = IndexerClient(network.rest_indexer)
    from dydx_v4_client.key_pair import KeyPair

    address = Wallet(KeyPair.from_mnemonic(args.mnemonic), 0, 0).address
    wallet = await Wallet.from_mnemonic(node, args.mnemonic, address)
    listed = (await indexer.markets.get_perpetual_markets())["markets"]
    markets = {ticker: Market(m) for ticker, m in listed.items()}
    wrapper = Wrapper(node, wallet, markets)
    server = await asyncio.start_server(lambda r, w: handle(wrapper, r, w), "127.0.0.1", args.port)
    port = server.sockets[0].getsockname()[1]
    print(f"WRAPPER READY http://127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--grpc", required=True)
    p.add_argument("--indexer", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--mnemonic", required=True)
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
