"""Drive the official `dydx-v4-client==1.1.5`, unmodified, against a node and indexer.

Runs INSIDE `.venv-official` (see `scripts/official_client_venv.py`), in its own process: the
client's `async` methods make blocking gRPC calls (v4-client-py-v2 `dydx_v4_client/network.py`
builds a blocking `grpc.Channel`, which `node/client.py` calls from `async def`s).

    .venv-official/bin/python scripts/official_client_driver.py \\
        --grpc 127.0.0.1:9090 --indexer http://127.0.0.1:3002 --faucet http://127.0.0.1:3002

Steps, with the client's own API only: fund the account through `FaucetClient`; read height,
markets, the account and the subaccount through `NodeClient` and `IndexerClient`; place a
short-term and a long-term BTC-USD limit order far below the oracle (they rest, never fill); list
and fetch them from the indexer; cancel both; observe what the indexer reports afterwards. Prints
one JSON object with everything observed; exits non-zero with a message on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
from dydx_v4_client import OrderFlags
from dydx_v4_client.faucet_client import FaucetClient
from dydx_v4_client.indexer.rest.constants import OrderType
from dydx_v4_client.indexer.rest.indexer_client import IndexerClient
from dydx_v4_client.key_pair import KeyPair
from dydx_v4_client.network import make_local
from dydx_v4_client.node.client import NodeClient
from dydx_v4_client.node.market import Market
from dydx_v4_client.wallet import Wallet
from google.protobuf.json_format import MessageToDict
from v4_proto.dydxprotocol.clob.order_pb2 import Order

# BIP39 reference test vector (trezor/python-mnemonic vectors.json): a key nobody funds for real.
MNEMONIC = (
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
)
FUND_USDC = 10_000
POLL_S = 0.1


async def poll(what: str, probe: Callable[[], Awaitable[Any]], timeout_s: float) -> Any:
    """Call `probe` until it returns something other than None."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(POLL_S)


def tx(response: Any) -> dict[str, Any]:
    r = response.tx_response
    return {"code": r.code, "codespace": r.codespace, "raw_log": r.raw_log, "txhash": r.txhash}


async def indexer_order(indexer: IndexerClient, order_id: str) -> dict[str, Any] | int:
    """The order from `GET /v4/orders/{id}`, or the HTTP status when it is an error."""
    try:
        order: dict[str, Any] = await indexer.account.get_order(order_id)
        return order
    except httpx.HTTPStatusError as e:
        return e.response.status_code


async def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    network = make_local(node_url=args.grpc, rest_indexer=args.indexer, websocket_indexer=args.ws)
    key = KeyPair.from_mnemonic(MNEMONIC)
    address = Wallet(key, 0, 0).address
    out["address"] = address
    indexer = IndexerClient(network.rest_indexer)

    # -- funding through the faucet, then the indexer sees the subaccount --
    faucet = await FaucetClient(args.faucet).fill(address, 0, FUND_USDC)
    out["faucet_status"] = faucet.status_code

    async def funded() -> dict[str, Any] | None:
        try:
            body: dict[str, Any] = await indexer.account.get_subaccount(address, 0)
            return body
        except httpx.HTTPStatusError as e:
            if e.response.status_code == 404:
                return None
            raise

    out["indexer_subaccount"] = await poll("the funded subaccount", funded, args.timeout)

    # -- node reads --
    node = await NodeClient.connect(network.node)
    wallet = await Wallet.from_mnemonic(node, MNEMONIC, address)
    account = await node.get_account(address)
    out["account_before"] = {"number": account.account_number, "sequence": account.sequence}
    height = await node.latest_block_height()
    out["node_height"] = height
    out["indexer_height"] = await indexer.utility.get_height()
    out["indexer_time"] = await indexer.utility.get_time()
    markets = await indexer.markets.get_perpetual_markets("BTC-USD")
    out["markets"] = markets
    btc = markets["markets"]["BTC-USD"]
    market = Market(btc)
    clob_pairs = await node.get_clob_pairs()
    out["node_clob_pair_ids"] = [p.id for p in clob_pairs.clob_pair]

    # -- place: short-term and long-term limit buys at half the oracle price (they rest) --
    price = int(Decimal(btc["oraclePrice"]) / 2)
    client_ids = {"short": 1000 + height % 1000, "long": 2000 + height % 1000}
    short_id = market.order_id(address, 0, client_ids["short"], OrderFlags.SHORT_TERM)
    long_id = market.order_id(address, 0, client_ids["long"], OrderFlags.LONG_TERM)
    gtb = height + 20
    gtbt = int(time.time()) + 300
    short = market.order(
        short_id, OrderType.LIMIT, Order.Side.SIDE_BUY, size=0.001, price=price,
        time_in_force=Order.TimeInForce.TIME_IN_FORCE_UNSPECIFIED, reduce_only=False,
        good_til_block=gtb,
    )  # fmt: skip
    long = market.order(
        long_id, OrderType.LIMIT, Order.Side.SIDE_BUY, size=0.002, price=price - 1,
        time_in_force=Order.TimeInForce.TIME_IN_FORCE_UNSPECIFIED, reduce_only=False,
        good_til_block_time=gtbt,
    )  # fmt: skip
    out["place_short"] = tx(await node.place_order(wallet, short))
    out["place_long"] = tx(await node.place_order(wallet, long))

    # -- the indexer: find both orders by listing, then fetch each by id --
    async def both_listed() -> dict[str, dict[str, Any]] | None:
        orders = await indexer.account.get_subaccount_orders(address, 0)
        by_client = {o["clientId"]: o for o in orders}
        s, lg = by_client.get(str(client_ids["short"])), by_client.get(str(client_ids["long"]))
        # The long-term order is OPEN once its block is committed (then its sequence is too).
        if s is None or lg is None or lg["status"] != "OPEN":
            return None
        return {"short": s, "long": lg, "all": orders}

    listed = await poll("both orders in /v4/orders", both_listed, args.timeout)
    out["listed"] = {"short": listed["short"], "long": listed["long"]}
    out["listed_count"] = len(listed["all"])
    ids = {k: listed[k]["id"] for k in ("short", "long")}
    out["before_cancel"] = {k: await indexer_order(indexer, v) for k, v in ids.items()}
    out["indexer_orders_filtered"] = await indexer.account.get_subaccount_orders(
        address, 0, ticker="BTC-USD", status="BEST_EFFORT_OPENED"
    )
    out["orderbook"] = await indexer.markets.get_perpetual_market_orderbook("BTC-USD")

    # -- cancel both --
    out["cancel_short"] = tx(await node.cancel_order(wallet, short_id, good_til_block=gtb))
    out["cancel_long"] = tx(await node.cancel_order(wallet, long_id, good_til_block_time=gtbt))

    async def both_gone() -> dict[str, Any] | None:
        now = {k: await indexer_order(indexer, v) for k, v in ids.items()}
        long_done = isinstance(now["long"], dict) and now["long"]["status"] == "CANCELED"
        return now if now["short"] == 404 and long_done else None

    out["after_cancel"] = await poll("the cancels in the indexer", both_gone, args.timeout)
    out["orders_after"] = await indexer.account.get_subaccount_orders(address, 0)

    # -- account and subaccount afterwards --
    account = await node.get_account(address)
    out["account_after"] = {"number": account.account_number, "sequence": account.sequence}
    chain_sub = await node.get_subaccount(address, 0)
    out["node_subaccount"] = MessageToDict(chain_sub)
    out["indexer_subaccount_after"] = await indexer.account.get_subaccount(address, 0)
    out["indexer_asset_positions"] = await indexer.account.get_subaccount_asset_positions(
        address, 0
    )
    out["indexer_perpetual_positions"] = await indexer.account.get_subaccount_perpetual_positions(
        address, 0
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grpc", required=True, help="node gRPC host:port (insecure)")
    parser.add_argument("--indexer", required=True, help="indexer REST base URL")
    parser.add_argument("--ws", default="", help="indexer websocket URL")
    parser.add_argument("--faucet", required=True, help="faucet base URL")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per wait")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
