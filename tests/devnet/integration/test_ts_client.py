"""The official TypeScript client `@dydxprotocol/v4-client-js`, unmodified, against the devnet:
its validator side over the devnet's CometBFT JSON-RPC, its indexer side over REST.

`tests/devnet/integration/ts_client/check.js` drives it (a `CompositeClient` on a local network
configuration): faucet, account, height, markets, clob pairs, subaccount, a short-term and a
long-term order placed, found on the indexer and its orderbook, cancelled, the subaccount and its
positions read back: the checks `test_official_client.py` makes of the Python client, with the
indexer's answers (as the TS client parsed them) validated against the real indexer's swagger.
The npm project is installed once with `npm ci` from its committed lock file
(`scripts/ts_client.py`, or `make ts-client`); the test skips only when the npm registry cannot
be reached. Node or npm missing is a failure (`make system-deps` installs them), as is any other
npm error.
"""

from __future__ import annotations

import base64
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from scripts.ts_client import NpmRegistryUnreachable, ensure_installed, node_binary
from tests.fixtures.client_checks import (
    assert_faucet_funded,
    assert_height_and_markets,
    assert_orders_on_the_indexer,
)
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.drivers import run_driver
from tests.fixtures.indexer_swagger import IndexerSwagger

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

FUND_QUANTUMS = 10_000 * 10**6


@pytest.fixture(scope="module")
def ts_project() -> Path:
    try:
        return ensure_installed()
    except NpmRegistryUnreachable as e:
        pytest.skip(f"npm registry unreachable, cannot install the official TypeScript client: {e}")


@pytest.fixture(scope="module")
async def observed(ts_project: Path, devnet: DevnetProcess) -> dict[str, Any]:
    """Everything the TypeScript client saw, as printed by check.js."""
    return await run_driver(
        node_binary(),
        str(ts_project / "check.js"),
        "--rpc", devnet.rpc,
        "--indexer", devnet.indexer,
        "--ws", devnet.ws,
        cwd=ts_project,
    )  # fmt: skip


async def _rpc(devnet: DevnetProcess, method: str, **params: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        answer: dict[str, Any] = (await client.post(devnet.rpc, json=body)).json()
    return answer


async def test_orders_are_accepted_and_cancelled(observed: dict[str, Any]) -> None:
    for step in ("place_short", "place_long", "cancel_short", "cancel_long"):
        assert observed[step]["code"] == 0, (step, observed[step])
        assert len(observed[step]["hash"]) == 64


async def test_stateful_txs_are_in_the_blocks_the_client_reports(
    observed: dict[str, Any], devnet: DevnetProcess
) -> None:
    # The client found each stateful tx with `tx` after broadcast_tx_sync; the node agrees.
    for step in ("place_long", "cancel_long"):
        tx_hash, height = observed[step]["hash"], observed[step]["height"]
        got = await _rpc(devnet, "tx", hash=base64.b64encode(bytes.fromhex(tx_hash)).decode())
        assert got["result"]["hash"] == tx_hash
        assert int(got["result"]["height"]) == height
    assert observed["cancel_long"]["height"] > observed["place_long"]["height"]
    # A short-term tx is never in a block (`app/prepare/other_msgs.go` RemoveDisallowMsgs).
    short = base64.b64encode(bytes.fromhex(observed["place_short"]["hash"])).decode()
    got = await _rpc(devnet, "tx", hash=short)
    assert got["error"]["data"] == f"tx ({observed['place_short']['hash']}) not found"


async def test_websocket_events_decode_in_cosmjs(observed: dict[str, Any]) -> None:
    # CosmJS's tendermint37 adaptor decoded every event (an error would be recorded instead)
    blocks, txs = observed["ws_events"]["blocks"], observed["ws_events"]["txs"]
    assert blocks and all("error" not in b for b in blocks), blocks
    assert all(b["chainId"] == "localdydxprotocol" for b in blocks)
    heights = [b["height"] for b in blocks]
    assert heights == sorted(heights) and len(set(heights)) == len(heights)
    long = observed["place_long"]
    # the long-term order's tx, in the block the client found it in; a short-term order's tx is
    # never in a block, so it has no Tx event
    assert {"hash": long["hash"], "height": long["height"], "code": 0} in txs, txs
    assert all(t["hash"] != observed["place_short"]["hash"] for t in txs)
    assert long["height"] in heights
    # subscribeNewBlockHeader: the header of every block CosmJS saw, the tx's block included
    # (it arrives before that block's Tx events, which the driver waited for)
    headers = observed["ws_events"]["headers"]
    assert all("error" not in h for h in headers), headers
    assert all(h["chainId"] == "localdydxprotocol" for h in headers)
    assert long["height"] in [h["height"] for h in headers]


async def test_account_sequence_counts_only_stateful_txs(observed: dict[str, Any]) -> None:
    before, after = observed["account_before"], observed["account_after"]
    assert after["number"] == before["number"]
    assert after["sequence"] == before["sequence"] + 2


async def test_node_reads_through_abci_query(observed: dict[str, Any]) -> None:
    assert observed["node_block"]["chainId"] == "localdydxprotocol"
    assert observed["node_block"]["height"] == observed["node_height"]
    assert len(observed["node_block"]["id"]) == 64
    assert observed["node_clob_pair_ids"] == [0, 1, 2, 5, 7, 10]
    assert observed["node_price_ids"] == [0, 1, 2, 5, 7, 10]
    btc = observed["markets"]["markets"]["BTC-USD"]
    assert observed["node_clob_pair"] == {
        "id": 0,
        "stepBaseQuantums": str(btc["stepBaseQuantums"]),
        "subticksPerTick": btc["subticksPerTick"],
    }
    assert observed["node_subaccount_owner"] == observed["address"]
    assert observed["node_authenticators"] == []  # none added: an empty answer, not an error
    # SerializableInt: 0x02 (non-negative) then the big-endian magnitude
    usdc = bytes.fromhex(observed["node_subaccount_usdc"])
    assert usdc[0] == 2 and int.from_bytes(usdc[1:], "big") == FUND_QUANTUMS


async def test_the_faucet_funds_the_account_and_subaccount(
    observed: dict[str, Any], indexer_swagger: IndexerSwagger
) -> None:
    indexer_swagger.validate_response(
        "/addresses/{address}/subaccountNumber/{subaccountNumber}", observed["indexer_subaccount"]
    )
    assert_faucet_funded(observed)


async def test_height_and_markets_agree_between_node_and_indexer(
    observed: dict[str, Any], indexer_swagger: IndexerSwagger
) -> None:
    assert_height_and_markets(observed, indexer_swagger)


async def test_indexer_reports_the_orders(
    observed: dict[str, Any], indexer_swagger: IndexerSwagger
) -> None:
    short, long = assert_orders_on_the_indexer(observed, indexer_swagger)
    indexer_swagger.validate_response("/orders", observed["orders_after"])
    # The TS client sends 0 for both: "Client metadata is 0 for short term orders"
    # (v4-client-js `src/clients/composite-client.ts` placeShortTermOrder), and a LIMIT order's
    # is 0 too (`src/clients/helpers/chain-helpers.ts` calculateClientMetadata; 1 is MARKET's).
    assert (short["clientMetadata"], long["clientMetadata"]) == ("0", "0")
    indexer_swagger.validate_response("/orderbooks/perpetualMarket/{ticker}", observed["orderbook"])


async def test_subaccount_and_positions_after_the_cancels(
    observed: dict[str, Any], indexer_swagger: IndexerSwagger
) -> None:
    wrapped = observed["indexer_subaccount_after"]
    indexer_swagger.validate_response(
        "/addresses/{address}/subaccountNumber/{subaccountNumber}", wrapped
    )
    # Nothing filled: the 10,000 USDC untouched, no perpetual position.
    assert Decimal(wrapped["subaccount"]["equity"]) == Decimal(10_000)
    assets = observed["indexer_asset_positions"]
    indexer_swagger.validate_response("/assetPositions", assets)
    assert [(p["symbol"], p["size"]) for p in assets["positions"]] == [("USDC", "10000")]
    perpetuals = observed["indexer_perpetual_positions"]
    indexer_swagger.validate_response("/perpetualPositions", perpetuals)
    assert perpetuals["positions"] == []
