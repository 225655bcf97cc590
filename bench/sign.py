"""Microseconds per signed place-order tx: our builder vs the official dydx-v4-client 1.1.5.

    .venv/bin/python bench/sign.py [--n 5000] [--repeat 7]

Both sides do the same work per tx, from human inputs to tx bytes: quantize size and price,
build the MsgPlaceOrder, wrap it in TxBody/AuthInfo, sign sha256(SignDoc) with secp256k1 and
serialize the Tx. The official client runs in its own virtualenv (``.venv-official``, created
by ``scripts/official_client_venv.py`` on first use) in a worker subprocess. Rounds of ``n`` txs
alternate between the two (ours, official, ours, …) so that both see the same machine load (the
machine is shared); reported are the best and the median of ``repeat`` rounds each.
"""

from __future__ import annotations

import argparse
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


def _round_timer(fn: Any) -> Any:
    """A function timing one round of ``n`` calls, in µs per call."""
    fn()  # warm caches

    def round_us(n: int) -> float:
        return timeit.timeit(fn, number=n) / n * 1e6

    return round_us


def ours() -> Any:
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

    return _round_timer(one)


def official() -> Any:
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

    return _round_timer(one)


def _official_venv_python() -> Path:
    sys.path.insert(0, str(ROOT))
    from scripts.official_client_venv import official_python

    return official_python()


def _worker() -> int:
    """Official side: one line "n" in, one line "µs per tx" out, until stdin closes."""
    round_us = official()
    for line in sys.stdin:
        print(json.dumps(round_us(int(line))), flush=True)
    return 0


def _summary(times: list[float]) -> tuple[float, float]:
    return min(times), statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description="µs per signed place-order tx")
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--official-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.official_worker:
        return _worker()

    worker = subprocess.Popen(
        [str(_official_venv_python()), __file__, "--official-worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdin is not None and worker.stdout is not None
    ours_round = ours()
    mine: list[float] = []
    theirs: list[float] = []
    try:
        for _ in range(args.repeat):
            mine.append(ours_round(args.n))
            worker.stdin.write(f"{args.n}\n")
            worker.stdin.flush()
            theirs.append(float(json.loads(worker.stdout.readline())))
    finally:
        worker.stdin.close()
        worker.wait(timeout=30)
    (our_best, our_median), (their_best, their_median) = _summary(mine), _summary(theirs)
    print(
        f"signed place-order tx, {args.repeat} alternating rounds x {args.n} txs, "
        f"python {sys.version.split()[0]}"
    )
    print(f"{'builder':<28}{'best µs/tx':>12}{'median µs/tx':>14}")
    print(f"{'dydx_router (ours)':<28}{our_best:>12.1f}{our_median:>14.1f}")
    print(f"{'dydx-v4-client 1.1.5':<28}{their_best:>12.1f}{their_median:>14.1f}")
    print(f"speed-up: best {their_best / our_best:.2f}x, median {their_median / our_median:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
