"""Record golden transactions signed by the official dYdX Python client.

    python scripts/golden_vectors.py            # (re)write tests/fixtures/golden_txs.json
    python scripts/golden_vectors.py --check    # exit 1 if the committed fixture is stale

The official ``dydx-v4-client==1.1.5`` pins ``v4-proto<9`` while the router uses the 9.x stubs, so
it lives in its own virtualenv (``.venv-official/``, git-ignored), created here on first use. This
file runs twice: in the caller's interpreter (venv setup, market parameters, fixture writing) and,
with ``--inner``, inside that virtualenv, where it drives the official client's own helpers
(``KeyPair``, ``Wallet``, ``Market``, ``node.message``, ``Builder``) on the fixed inputs below.

Where the official client (dydxprotocol/v4-clients v4-client-py-v2) is wrong, the vectors record
what it actually does and the test (``tests/router/unit/chain/test_golden_vectors.py``) states it
explicitly:
* ``client_metadata`` is always 2 (``node/message.py`` ignores its argument): recorded per vector,
  and our builder is given that value;
* STOP_LIMIT maps to CONDITION_TYPE_UNSPECIFIED (``node/chain_helpers.py``): the vectors pass
  ``condition_type`` explicitly, as the official examples do; the mapping itself is recorded;
* the float quantizer (``node/market.py``) loses a step/tick on some inputs: every vector records
  the official quantums/subticks, one vector is built on such an input, and ``quantizer_cases``
  records the official result for known bad values.
See docs/chain-adapter.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Mainnet genesis markets (dydxopsdao/networks), written by scripts/upstream_fixtures.py.
GENESIS = ROOT / "tests" / "fixtures" / "data" / "mainnet_markets.json"
FIXTURE = ROOT / "tests" / "fixtures" / "golden_txs.json"

# BIP39 reference test vector (trezor/python-mnemonic vectors.json), a key nobody funds.
MNEMONIC = "legal winner thank year wave sausage worth useful legal winner thank yellow"
CHAIN_ID = "dydx-testnet-4"
TICKERS = ("BTC-USD", "ETH-USD", "SOL-USD")
GTB = 41_234_567
GTBT = 1_767_225_600  # 2026-01-01T00:00:00Z
DEFAULT_MEMO = "Client Example"  # the official Builder's default

_BASE = {"account_number": 12_345, "sequence": 7, "memo": DEFAULT_MEMO, "subaccount_number": 0}
VECTORS: list[dict[str, Any]] = [
    {
        "name": "short_term_limit_buy",
        "kind": "place",
        "order_type": "LIMIT",
        "ticker": "BTC-USD",
        "side": "BUY",
        "size": "0.0015",
        "price": "64321",
        "time_in_force": "TIME_IN_FORCE_UNSPECIFIED",
        "post_only": False,
        "reduce_only": False,
        "order_flags": 0,
        "client_id": 42,
        "good_til_block": GTB,
    },
    {
        "name": "short_term_post_only_sell",
        "kind": "place",
        "order_type": "LIMIT",
        "ticker": "ETH-USD",
        "side": "SELL",
        "size": "0.25",
        "price": "3456.7",
        "time_in_force": "TIME_IN_FORCE_UNSPECIFIED",
        "post_only": True,
        "reduce_only": False,
        "order_flags": 0,
        "client_id": 43,
        "good_til_block": GTB,
        "memo": "",
    },
    {
        "name": "ioc_market_sell_reduce_only",
        "kind": "place",
        "order_type": "MARKET",
        "ticker": "SOL-USD",
        "side": "SELL",
        "size": "12.3",
        "price": "123.45",
        "time_in_force": "TIME_IN_FORCE_IOC",
        "post_only": False,
        "reduce_only": True,
        "order_flags": 0,
        "client_id": 44,
        "good_til_block": GTB + 20,
    },
    {
        "name": "long_term_limit_buy",
        "kind": "place",
        "order_type": "LIMIT",
        "ticker": "ETH-USD",
        "side": "BUY",
        "size": "1.5",
        "price": "2999.9",
        "time_in_force": "TIME_IN_FORCE_UNSPECIFIED",
        "post_only": False,
        "reduce_only": False,
        "order_flags": 64,
        "client_id": 45,
        "good_til_block_time": GTBT,
        "sequence": 3,
        "subaccount_number": 1,
    },
    {
        "name": "conditional_stop_limit_sell",
        "kind": "place",
        "order_type": "STOP_LIMIT",
        "ticker": "BTC-USD",
        "side": "SELL",
        "size": "0.01",
        "price": "60000",
        "trigger_price": "61000",
        "condition_type": "CONDITION_TYPE_STOP_LOSS",
        "execution": "DEFAULT",
        "time_in_force": "TIME_IN_FORCE_UNSPECIFIED",
        "post_only": False,
        "reduce_only": False,
        "order_flags": 32,
        "client_id": 46,
        "good_til_block_time": GTBT,
        "sequence": 4,
    },
    {
        "name": "conditional_take_profit_market_sell",
        "kind": "place",
        "order_type": "TAKE_PROFIT_MARKET",
        "ticker": "ETH-USD",
        "side": "SELL",
        "size": "0.5",
        "price": "3900",
        "trigger_price": "4000",
        "condition_type": "CONDITION_TYPE_TAKE_PROFIT",
        "execution": "IOC",
        "time_in_force": "TIME_IN_FORCE_IOC",
        "post_only": False,
        "reduce_only": True,
        "order_flags": 32,
        "client_id": 47,
        "good_til_block_time": GTBT,
        "sequence": 5,
    },
    {
        "name": "cancel_short_term",
        "kind": "cancel",
        "ticker": "BTC-USD",
        "order_flags": 0,
        "client_id": 42,
        "good_til_block": GTB + 3,
    },
    {
        "name": "cancel_long_term",
        "kind": "cancel",
        "ticker": "ETH-USD",
        "order_flags": 64,
        "client_id": 45,
        "good_til_block_time": GTBT + 60,
        "sequence": 6,
        "subaccount_number": 1,
    },
    {
        "name": "batch_cancel",
        "kind": "batch_cancel",
        "batches": [
            {"clob_pair_id": 0, "client_ids": [42, 48, 4_294_967_295]},
            {"clob_pair_id": 1, "client_ids": [43]},
        ],
        "good_til_block": GTB + 5,
    },
    {
        # Edge values: a timestamp-nonce sequence (>= 2^40), max subaccount, max client id.
        "name": "short_term_limit_edges",
        "kind": "place",
        "order_type": "LIMIT",
        "ticker": "SOL-USD",
        "side": "BUY",
        "size": "0.1",
        "price": "0.01",
        "time_in_force": "TIME_IN_FORCE_UNSPECIFIED",
        "post_only": False,
        "reduce_only": False,
        "order_flags": 0,
        "client_id": 4_294_967_295,
        "good_til_block": 1,
        "sequence": 1_767_225_600_123,
        "account_number": 0,
        "subaccount_number": 128_000,
        "memo": "dydx-router",
    },
    {
        # The official float quantizer turns 0.0003 BTC into 2,000,000 quantums (0.0002).
        "name": "float_bug_short_term_limit_buy",
        "kind": "place",
        "order_type": "LIMIT",
        "ticker": "BTC-USD",
        "side": "BUY",
        "size": "0.0003",
        "price": "64321",
        "time_in_force": "TIME_IN_FORCE_UNSPECIFIED",
        "post_only": False,
        "reduce_only": False,
        "order_flags": 0,
        "client_id": 49,
        "good_til_block": GTB,
    },
]
VECTORS = [{**_BASE, **v} for v in VECTORS]

# (ticker, "size" | "price", value): official results recorded for the float-bug test.
QUANTIZER_CASES = [
    ("BTC-USD", "size", "0.0003"),
    ("SOL-USD", "price", "0.29"),
    ("ETH-USD", "price", "4.1"),
    ("BTC-USD", "size", "0.0015"),
    ("ETH-USD", "price", "3456.7"),
    ("BTC-USD", "size", "0.00005"),  # below one step: the official client bumps it to one step
]


def _markets() -> dict[str, dict[str, Any]]:
    """Indexer-shaped market dicts (what the official ``Market`` takes) from mainnet genesis."""
    out: dict[str, dict[str, Any]] = {}
    for m in json.loads(GENESIS.read_text())["markets"]:
        if m["ticker"] in TICKERS:
            out[m["ticker"]] = {
                "ticker": m["ticker"],
                "clobPairId": str(m["clob_pair_id"]),
                "atomicResolution": m["atomic_resolution"],
                "quantumConversionExponent": m["quantum_conversion_exponent"],
                "stepBaseQuantums": m["step_base_quantums"],
                "subticksPerTick": m["subticks_per_tick"],
            }
    return out


# --- inside the official virtualenv -----------------------------------------------------------


def _inner(spec: dict[str, Any]) -> dict[str, Any]:
    from dydx_v4_client.indexer.rest.constants import OrderExecution, OrderType
    from dydx_v4_client.key_pair import KeyPair
    from dydx_v4_client.node.builder import Builder
    from dydx_v4_client.node.chain_helpers import OrderHelper
    from dydx_v4_client.node.market import Market
    from dydx_v4_client.node.message import batch_cancel, cancel_order, place_order, subaccount
    from dydx_v4_client.wallet import Wallet
    from v4_proto.dydxprotocol.clob.order_pb2 import Order
    from v4_proto.dydxprotocol.clob.tx_pb2 import OrderBatch

    markets = {t: Market(m) for t, m in spec["markets"].items()}
    key = KeyPair.from_mnemonic(spec["mnemonic"])
    vectors = []
    for v in spec["vectors"]:
        wallet = Wallet(key, v["account_number"], v["sequence"])
        builder = Builder(spec["chain_id"], "adv4tnt", memo=v["memo"])
        record = dict(v)
        if v["kind"] in ("place", "cancel"):
            market = markets[v["ticker"]]
            oid = market.order_id(
                wallet.address, v["subaccount_number"], v["client_id"], v["order_flags"]
            )
        if v["kind"] == "place":
            extra: dict[str, Any] = {}
            if "trigger_price" in v:
                extra["condition_type"] = Order.ConditionType.Value(v["condition_type"])
                extra["conditional_order_trigger_subticks"] = market.calculate_subticks(
                    float(v["trigger_price"])
                )
            if "execution" in v:
                extra["execution"] = getattr(OrderExecution, v["execution"])
            order = market.order(
                order_id=oid,
                order_type=getattr(OrderType, v["order_type"]),
                side=Order.Side.Value("SIDE_" + v["side"]),
                size=float(v["size"]),
                price=float(v["price"]),
                time_in_force=Order.TimeInForce.Value(v["time_in_force"]),
                reduce_only=v["reduce_only"],
                post_only=v["post_only"],
                good_til_block=v.get("good_til_block"),
                good_til_block_time=v.get("good_til_block_time"),
                **extra,
            )
            message = place_order(order)
            record["official_order"] = {
                "quantums": order.quantums,
                "subticks": order.subticks,
                "time_in_force": Order.TimeInForce.Name(order.time_in_force),
                "client_metadata": order.client_metadata,
                "condition_type": Order.ConditionType.Name(order.condition_type),
                "conditional_order_trigger_subticks": order.conditional_order_trigger_subticks,
            }
        elif v["kind"] == "cancel":
            message = cancel_order(oid, v.get("good_til_block"), v.get("good_til_block_time"))
        else:
            message = batch_cancel(
                subaccount(wallet.address, v["subaccount_number"]),
                [
                    OrderBatch(clob_pair_id=b["clob_pair_id"], client_ids=b["client_ids"])
                    for b in v["batches"]
                ],
                v["good_til_block"],
            )
        tx_bytes = builder.build(wallet, message).SerializeToString()
        record["tx_bytes"] = tx_bytes.hex()
        record["tx_hash"] = __import__("hashlib").sha256(tx_bytes).hexdigest().upper()
        vectors.append(record)

    quantizer = []
    for ticker, kind, value in spec["quantizer_cases"]:
        market = markets[ticker]
        fn = market.calculate_quantums if kind == "size" else market.calculate_subticks
        quantizer.append(
            {"ticker": ticker, "kind": kind, "value": value, "official": int(fn(float(value)))}
        )
    condition_types = {
        name: Order.ConditionType.Name(
            OrderHelper.calculate_condition_type(getattr(OrderType, name))
        )
        for name in ("STOP_LIMIT", "STOP_MARKET", "TAKE_PROFIT_LIMIT", "TAKE_PROFIT_MARKET")
    }
    return {
        "address": Wallet(key, 0, 0).address,
        "public_key": key.public_key_bytes.hex(),
        "vectors": vectors,
        "quantizer_cases": quantizer,
        "official_condition_type_mapping": condition_types,
    }


# --- in the caller's interpreter ----------------------------------------------------------------


def _versions(python: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json;"
        "print(json.dumps({p: m.version(p) for p in "
        "('dydx-v4-client', 'v4-proto', 'protobuf', 'coincurve', 'bip-utils')}))"
    )
    out = subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True)
    versions: dict[str, str] = json.loads(out.stdout)
    from scripts.official_client_venv import OFFICIAL_REQUIREMENT

    if versions["dydx-v4-client"] != OFFICIAL_REQUIREMENT.split("==")[1]:
        raise SystemExit(f"{python} has dydx-v4-client {versions['dydx-v4-client']}")
    return versions


def build_fixture(venv: Path | None = None) -> dict[str, Any]:
    # One place creates the official client's venv (scripts/official_client_venv.py).
    sys.path.insert(0, str(ROOT))
    from scripts.official_client_venv import OFFICIAL_VENV, official_python

    python = official_python(venv or OFFICIAL_VENV)
    markets = _markets()
    spec = {
        "mnemonic": MNEMONIC,
        "chain_id": CHAIN_ID,
        "markets": markets,
        "vectors": VECTORS,
        "quantizer_cases": QUANTIZER_CASES,
    }
    out = subprocess.run(
        [str(python), str(Path(__file__).resolve()), "--inner"],
        input=json.dumps(spec),
        check=True,
        capture_output=True,
        text=True,
    )
    recorded = json.loads(out.stdout)
    return {
        "generated_by": "scripts/golden_vectors.py",
        "official_client": _versions(python),
        "mnemonic": MNEMONIC,
        "chain_id": CHAIN_ID,
        "markets": markets,
        **recorded,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help="compare with the committed fixture")
    parser.add_argument("--venv", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=FIXTURE)
    args = parser.parse_args()
    if args.inner:
        json.dump(_inner(json.load(sys.stdin)), sys.stdout)
        return 0
    text = json.dumps(build_fixture(args.venv), indent=1) + "\n"
    if args.check:
        same = args.out.exists() and args.out.read_text() == text
        print("golden vectors up to date" if same else f"{args.out} is stale")
        return 0 if same else 1
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
