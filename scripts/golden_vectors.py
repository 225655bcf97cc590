"""Record golden transactions signed by the official dYdX Python client.

    python scripts/golden_vectors.py            # (re)write tests/fixtures/golden_txs.json
    python scripts/golden_vectors.py --check    # exit 1 if the committed fixture is stale

The official ``dydx-v4-client==1.1.5`` pins ``v4-proto<9`` while the router uses the 9.x stubs, so
it lives in its own virtualenv (``.venv-official/``, git-ignored), created here on first use. This
file runs twice: in the caller's interpreter (venv setup, market parameters, fixture writing) and,
with ``--inner``, inside that virtualenv, where it drives the official client's own helpers
(``KeyPair``, ``Wallet``, ``Market``, ``node.message``, ``Builder``) on the fixed inputs of
``scripts/golden_inputs.py``.

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
sys.path.insert(0, str(ROOT))

from scripts.golden_inputs import (  # noqa: E402
    CHAIN_ID,
    MNEMONIC,
    QUANTIZER_CASES,
    VECTORS,
    genesis_markets,
)

FIXTURE = ROOT / "tests" / "fixtures" / "golden_txs.json"


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
    from scripts.official_client_venv import OFFICIAL_VENV, official_python

    python = official_python(venv or OFFICIAL_VENV)
    markets = genesis_markets()
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
