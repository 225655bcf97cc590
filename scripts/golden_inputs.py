"""The fixed inputs of ``scripts/golden_vectors.py``: the key, the chain, the markets (from mainnet
genesis) and the orders/cancels the official dYdX Python client signs, and the quantizer cases.
Plain data and the standard library only: it is imported both in the caller's interpreter and
inside the official client's virtualenv."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Mainnet genesis markets (dydxopsdao/networks), written by scripts/upstream_fixtures.py.
GENESIS = ROOT / "tests" / "fixtures" / "data" / "mainnet_markets.json"

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


def genesis_markets() -> dict[str, dict[str, Any]]:
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
