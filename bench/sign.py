"""Microseconds per signed place-order tx: our builder vs the official dydx-v4-client 1.1.5.

    .venv/bin/python bench/sign.py [--n 5000] [--repeat 7]

Both sides do the same work per tx, from human inputs to tx bytes: quantize size and price,
build the MsgPlaceOrder, wrap it in TxBody/AuthInfo, sign sha256(SignDoc) with secp256k1 and
serialize the Tx. The official client runs in its own virtualenv (``.venv-official``, created by
``scripts/golden_vectors.py`` on first use) in a subprocess, so both are measured in the same run
on the same machine. Reported: the best and median of ``repeat`` rounds of ``n`` txs each.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import timeit
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MNEMONIC = "legal winner thank year wave sausage worth useful legal winner thank yellow"
BTC = {
    "ticker": "BTC-USD",
    "clobPairId": "0",
    "atomicResolution": -10,
    "quantumConversionExponent": -9,
    "stepBaseQuantums": 1_000_000,
    "subticksPerTick": 100_000,
}


def _rounds(fn: Any, n: int, repeat: int) -> dict[str, float]:
    fn()  # warm caches
    times = [t / n * 1e6 for t in timeit.repeat(fn, number=n, repeat=repeat)]
    return {"best_us": min(times), "median_us": statistics.median(times)}


def bench_ours(n: int, repeat: int) -> dict[str, float]:
    from decimal import Decimal

    from pydantic import SecretStr

    from dydx_router.chain import tx
    from dydx_router.chain.wallet import Wallet
    from dydx_router.domain.market import MarketSpec, Side

    wallet = Wallet.from_mnemonic(SecretStr(MNEMONIC))
    market = MarketSpec("BTC-USD", 0, -10, -9, 1_000_000, 100_000)
    size, price = Decimal("0.0015"), Decimal("64321")
    client_id = iter(range(1 << 31))

    def one() -> bytes:
        msg = tx.place_order(
            tx.ChainOrderId(wallet.address, 0, next(client_id), 0, tx.OrderFlags.SHORT_TERM),
            side=Side.BUY,
            quantums=market.to_quantums(size),
            subticks=market.to_subticks(price),
            good_til_block=41_234_567,
        )
        signed = tx.sign_tx(
            wallet, [msg], chain_id="dydx-testnet-4", account_number=12_345, sequence=7
        )
        return signed.tx_bytes

    return _rounds(one, n, repeat)


def bench_official(n: int, repeat: int) -> dict[str, float]:
    """Runs inside .venv-official."""
    from dydx_v4_client import OrderFlags
    from dydx_v4_client.indexer.rest.constants import OrderType
    from dydx_v4_client.key_pair import KeyPair
    from dydx_v4_client.node.builder import Builder
    from dydx_v4_client.node.market import Market
    from dydx_v4_client.node.message import place_order
    from dydx_v4_client.wallet import Wallet
    from v4_proto.dydxprotocol.clob.order_pb2 import Order

    wallet = Wallet(KeyPair.from_mnemonic(MNEMONIC), 12_345, 7)
    address = wallet.address  # the official property hashes the key on every access
    builder = Builder("dydx-testnet-4", "adv4tnt", memo="")
    market = Market(BTC)
    client_id = iter(range(1 << 31))

    def one() -> bytes:
        order = market.order(
            market.order_id(address, 0, next(client_id), OrderFlags.SHORT_TERM),
            OrderType.LIMIT,
            Order.Side.SIDE_BUY,
            size=0.0015,
            price=64321,
            time_in_force=Order.TimeInForce.TIME_IN_FORCE_UNSPECIFIED,
            reduce_only=False,
            good_til_block=41_234_567,
        )
        tx_bytes: bytes = builder.build(wallet, place_order(order)).SerializeToString()
        return tx_bytes

    return _rounds(one, n, repeat)


def _official_venv_python() -> Path:
    spec = importlib.util.spec_from_file_location(
        "golden_vectors", ROOT / "scripts/golden_vectors.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    python: Path = module.official_python(module.OFFICIAL_VENV)
    return python


def main() -> int:
    parser = argparse.ArgumentParser(description="µs per signed place-order tx")
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--official", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.official:
        print(json.dumps(bench_official(args.n, args.repeat)))
        return 0

    ours = bench_ours(args.n, args.repeat)
    out = subprocess.run(
        [
            str(_official_venv_python()),
            __file__,
            "--official",
            "--n",
            str(args.n),
            "--repeat",
            str(args.repeat),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    official = json.loads(out.stdout)
    print(
        f"signed place-order tx, {args.repeat} rounds x {args.n} txs, "
        f"python {sys.version.split()[0]}"
    )
    print(f"{'builder':<28}{'best µs/tx':>12}{'median µs/tx':>14}")
    print(f"{'dydx_router (ours)':<28}{ours['best_us']:>12.1f}{ours['median_us']:>14.1f}")
    print(f"{'dydx-v4-client 1.1.5':<28}{official['best_us']:>12.1f}{official['median_us']:>14.1f}")
    print(f"speed-up (median): {official['median_us'] / ours['median_us']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
