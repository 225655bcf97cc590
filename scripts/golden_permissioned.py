"""Record permissioned-key txs (x/accountplus) signed by the official dYdX Python client.

    python scripts/golden_permissioned.py          # (re)write the fixture
    python scripts/golden_permissioned.py --check  # exit 1 if it is stale

The fixture is ``tests/fixtures/golden_permissioned.json``.

Like ``scripts/golden_vectors.py``, this file runs twice: here (venv, fixture) and, with
``--inner``, inside ``.venv-official`` (``dydx-v4-client==1.1.5``), where the official client's
own helpers build the txs: ``Authenticator.compose`` and ``node.message.add_authenticator`` for
the owner's grant, and ``Builder.build(..., tx_options=TxOptions(authenticators, sequence,
account_number))`` for orders the trading key signs for the owner. Orders are given in chain
units (the official quantizer is covered by the plain golden vectors), built as ``Order`` protos
(the official ``node.message.order`` forces client_metadata 2).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "golden_permissioned.json"

# BIP39 reference test vectors (trezor/python-mnemonic vectors.json): keys nobody funds.
OWNER_MNEMONIC = "legal winner thank year wave sausage worth useful legal winner thank yellow"
TRADER_MNEMONIC = "letter advice cage absurd amount doctor acoustic avoid letter advice cage above"
CHAIN_ID = "dydx-testnet-4"
MEMO = "Client Example"  # the official Builder's default
OWNER_ACCOUNT_NUMBER = 12_345
AUTHENTICATOR_ID = 3
GTB = 41_234_567
GTBT = 1_767_225_600
NONCE = 1_767_225_600_123  # a timestamp nonce (unix ms >= 2^40)

VECTORS: list[dict[str, Any]] = [
    {"name": "grant_btc_subaccount_0", "kind": "grant", "subaccounts": [0], "clob_pair_ids": [0],
     "sequence": 4},
    {"name": "grant_two_markets_two_subaccounts", "kind": "grant", "subaccounts": [0, 1],
     "clob_pair_ids": [0, 1], "sequence": 5},
    {"name": "revoke", "kind": "revoke", "authenticator_id": AUTHENTICATOR_ID, "sequence": 6},
    {"name": "short_term_buy", "kind": "place", "sequence": 0, "subaccount_number": 0,
     "client_id": 42, "clob_pair_id": 0, "order_flags": 0, "side": 1, "quantums": 15_000_000,
     "subticks": 6_432_100_000, "time_in_force": 0, "good_til_block": GTB},
    {"name": "long_term_sell_timestamp_nonce", "kind": "place", "sequence": NONCE,
     "subaccount_number": 0, "client_id": 43, "clob_pair_id": 0, "order_flags": 64, "side": 2,
     "quantums": 2_000_000, "subticks": 7_000_000_000, "time_in_force": 2,
     "good_til_block_time": GTBT},
    {"name": "short_term_cancel", "kind": "cancel", "sequence": 0, "subaccount_number": 0,
     "client_id": 42, "clob_pair_id": 0, "order_flags": 0, "good_til_block": GTB},
    {"name": "long_term_cancel_timestamp_nonce", "kind": "cancel", "sequence": NONCE + 1,
     "subaccount_number": 0, "client_id": 43, "clob_pair_id": 0, "order_flags": 64,
     "good_til_block_time": GTBT},
    {"name": "batch_cancel", "kind": "batch_cancel", "sequence": 0, "subaccount_number": 0,
     "batches": [{"clob_pair_id": 0, "client_ids": [1, 2, 3]}], "good_til_block": GTB},
]  # fmt: skip


def _inner(spec: dict[str, Any]) -> dict[str, Any]:
    from dydx_v4_client.key_pair import KeyPair
    from dydx_v4_client.node.authenticators import Authenticator, AuthenticatorType
    from dydx_v4_client.node.builder import Builder, TxOptions
    from dydx_v4_client.node.message import (
        add_authenticator,
        batch_cancel,
        cancel_order,
        order_id,
        place_order,
        remove_authenticator,
        subaccount,
    )
    from dydx_v4_client.wallet import Wallet
    from v4_proto.dydxprotocol.clob.order_pb2 import Order
    from v4_proto.dydxprotocol.clob.tx_pb2 import OrderBatch

    owner_key = KeyPair.from_mnemonic(spec["owner_mnemonic"])
    trader_key = KeyPair.from_mnemonic(spec["trader_mnemonic"])
    owner_address = Wallet(owner_key, 0, 0).address
    builder = Builder(spec["chain_id"], "adv4tnt", memo=spec["memo"])
    out = []
    for v in spec["vectors"]:
        record = dict(v)
        if v["kind"] in ("grant", "revoke"):
            owner = Wallet(owner_key, spec["account_number"], v["sequence"])
            if v["kind"] == "grant":
                auth = Authenticator.compose(
                    AuthenticatorType.AllOf,
                    [
                        Authenticator.signature_verification(trader_key.public_key_bytes),
                        Authenticator.compose(
                            AuthenticatorType.AnyOf,
                            [
                                Authenticator.message_filter("/dydxprotocol.clob.MsgPlaceOrder"),
                                Authenticator.message_filter("/dydxprotocol.clob.MsgCancelOrder"),
                                Authenticator.message_filter("/dydxprotocol.clob.MsgBatchCancel"),
                            ],
                        ),
                        Authenticator.subaccount_filter(v["subaccounts"]),
                        Authenticator.clob_pair_id_filter(v["clob_pair_ids"]),
                    ],
                )
                msg = add_authenticator(owner_address, auth.type, auth.config)
                record["data"] = msg.data.decode()
            else:
                msg = remove_authenticator(owner_address, v["authenticator_id"])
            tx = builder.build(owner, msg)
        else:
            trader = Wallet(trader_key, 0, 0)
            options = TxOptions([spec["authenticator_id"]], v["sequence"], spec["account_number"])
            if v["kind"] == "batch_cancel":
                msg = batch_cancel(
                    subaccount(owner_address, v["subaccount_number"]),
                    [OrderBatch(**b) for b in v["batches"]],
                    v["good_til_block"],
                )
            else:
                oid = order_id(
                    owner_address, v["subaccount_number"], v["client_id"], v["clob_pair_id"],
                    v["order_flags"],
                )  # fmt: skip
                if v["kind"] == "cancel":
                    msg = cancel_order(oid, v.get("good_til_block"), v.get("good_til_block_time"))
                else:
                    msg = place_order(
                        Order(
                            order_id=oid, side=v["side"], quantums=v["quantums"],
                            subticks=v["subticks"], good_til_block=v.get("good_til_block"),
                            good_til_block_time=v.get("good_til_block_time"),
                            time_in_force=v["time_in_force"],
                        )
                    )  # fmt: skip
            tx = builder.build(trader, msg, tx_options=options)
        tx_bytes = tx.SerializeToString()
        record["tx_bytes"] = tx_bytes.hex()
        record["tx_hash"] = hashlib.sha256(tx_bytes).hexdigest().upper()
        out.append(record)
    return {
        "owner_address": owner_address,
        "trader_address": Wallet(trader_key, 0, 0).address,
        "trader_public_key": trader_key.public_key_bytes.hex(),
        "vectors": out,
    }


def build_fixture(venv: Path | None = None) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from scripts.golden_vectors import _versions
    from scripts.official_client_venv import OFFICIAL_VENV, official_python

    python = official_python(venv or OFFICIAL_VENV)
    spec = {
        "owner_mnemonic": OWNER_MNEMONIC,
        "trader_mnemonic": TRADER_MNEMONIC,
        "chain_id": CHAIN_ID,
        "memo": MEMO,
        "account_number": OWNER_ACCOUNT_NUMBER,
        "authenticator_id": AUTHENTICATOR_ID,
        "vectors": VECTORS,
    }
    out = subprocess.run(
        [str(python), str(Path(__file__).resolve()), "--inner"],
        input=json.dumps(spec),
        check=True,
        capture_output=True,
        text=True,
    )
    return {
        "generated_by": "scripts/golden_permissioned.py",
        "official_client": _versions(python),
        **{k: v for k, v in spec.items() if k != "vectors"},
        **json.loads(out.stdout),
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
