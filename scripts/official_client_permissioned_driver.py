"""Drive the official `dydx-v4-client==1.1.5`, unmodified, through a permissioned trading key.

Runs INSIDE `.venv-official` (see `scripts/official_client_venv.py`), in its own process (its
`async` methods make blocking gRPC calls on the blocking `grpc.Channel` of v4-client-py-v2
`dydx_v4_client/network.py`):

    .venv-official/bin/python scripts/official_client_permissioned_driver.py \\
        --grpc 127.0.0.1:9090 --indexer http://127.0.0.1:3002

With the client's own API only: fund the owner through `FaucetClient`; `add_authenticator` an
AllOf(SignatureVerification(trading key), AnyOf(MessageFilter place, MessageFilter cancel),
SubaccountFilter([0]), ClobPairIdFilter([0])) signed by the owner; find its id with
`get_authenticators`; then, signed by the trading key with
`TxOptions(authenticators=[id], sequence, account_number)`, place and cancel a short-term
BTC-USD order for the owner, and place one on ETH-USD (the filter refuses it). Prints one JSON
object with what the node answered; exits non-zero with a message on failure.
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

from dydx_v4_client import OrderFlags
from dydx_v4_client.faucet_client import FaucetClient
from dydx_v4_client.indexer.rest.constants import OrderType
from dydx_v4_client.indexer.rest.indexer_client import IndexerClient
from dydx_v4_client.key_pair import KeyPair
from dydx_v4_client.network import make_local
from dydx_v4_client.node.authenticators import Authenticator, AuthenticatorType
from dydx_v4_client.node.builder import TxOptions
from dydx_v4_client.node.client import NodeClient
from dydx_v4_client.node.market import Market
from dydx_v4_client.wallet import Wallet
from v4_proto.dydxprotocol.clob.order_pb2 import Order

# BIP39 reference test vectors (trezor/python-mnemonic vectors.json): keys nobody funds for real.
OWNER_MNEMONIC = "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong"
TRADER_MNEMONIC = "letter advice cage absurd amount doctor acoustic avoid letter advice cage above"
POLL_S = 0.1


async def poll(what: str, probe: Callable[[], Awaitable[Any]], timeout_s: float) -> Any:
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


async def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    network = make_local(node_url=args.grpc, rest_indexer=args.indexer, websocket_indexer="")
    owner_key = KeyPair.from_mnemonic(OWNER_MNEMONIC)
    trader_key = KeyPair.from_mnemonic(TRADER_MNEMONIC)
    address = Wallet(owner_key, 0, 0).address
    out["owner"] = address
    faucet = await FaucetClient(args.indexer).fill(address, 0, 10_000)
    out["faucet_status"] = faucet.status_code
    node = await NodeClient.connect(network.node)

    async def funded() -> Any:
        try:
            return await node.get_account(address)
        except Exception:  # the account exists once the faucet's deposit is in a block
            return None

    await poll("the owner's account", funded, args.timeout)
    owner = await Wallet.from_mnemonic(node, OWNER_MNEMONIC, address)

    auth = Authenticator.compose(
        AuthenticatorType.AllOf,
        [
            Authenticator.signature_verification(trader_key.public_key_bytes),
            Authenticator.compose(
                AuthenticatorType.AnyOf,
                [
                    Authenticator.message_filter("/dydxprotocol.clob.MsgPlaceOrder"),
                    Authenticator.message_filter("/dydxprotocol.clob.MsgCancelOrder"),
                ],
            ),
            Authenticator.subaccount_filter([0]),
            Authenticator.clob_pair_id_filter([0]),
        ],
    )
    out["add_authenticator"] = tx(await node.add_authenticator(owner, auth))

    async def registered() -> Any:
        resp = await node.get_authenticators(address)
        found = [a for a in resp.account_authenticators if a.type == "AllOf"]
        return found[-1] if found else None

    stored = await poll("the authenticator", registered, args.timeout)
    out["authenticator"] = {"id": stored.id, "type": stored.type}

    indexer = IndexerClient(network.rest_indexer)
    markets = (await indexer.markets.get_perpetual_markets())["markets"]
    account = await node.get_account(address)
    trader = Wallet(trader_key, account.account_number, 0)
    options = TxOptions([stored.id], account.sequence, account.account_number)
    height = await node.latest_block_height()
    placed = {}
    for ticker, client_id in (("BTC-USD", 501), ("ETH-USD", 502)):
        market = Market(markets[ticker])
        oid = market.order_id(address, 0, client_id, OrderFlags.SHORT_TERM)
        price = int(Decimal(markets[ticker]["oraclePrice"]) / 2)
        order = market.order(
            oid, OrderType.LIMIT, Order.Side.SIDE_BUY, size=0.01, price=price,
            time_in_force=Order.TimeInForce.TIME_IN_FORCE_UNSPECIFIED, reduce_only=False,
            good_til_block=height + 20,
        )  # fmt: skip
        out[f"place_{ticker}"] = tx(await node.place_order(trader, order, tx_options=options))
        placed[ticker] = oid
    out["cancel_BTC-USD"] = tx(
        await node.cancel_order(
            trader, placed["BTC-USD"], good_til_block=height + 20, tx_options=options
        )
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grpc", required=True, help="node gRPC host:port (insecure)")
    parser.add_argument("--indexer", required=True, help="indexer REST base URL (and faucet)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per wait")
    args = parser.parse_args()
    json.dump(asyncio.run(run(args)), sys.stdout)


if __name__ == "__main__":
    main()
