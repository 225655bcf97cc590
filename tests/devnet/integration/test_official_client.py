"""The official `dydx-v4-client==1.1.5`, unmodified, against the devnet (node + indexer).

The client lives in `.venv-official` (it pins `v4-proto<9`) and runs in its own process through
`scripts/official_client_driver.py`: its `async` methods make blocking gRPC calls, so it must not
share this test's event loop (v4-client-py-v2 `dydx_v4_client/network.py`). The test skips only when
that virtualenv cannot be made because PyPI is unreachable; any other failure to make it fails the
test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scripts.official_client_venv import OfficialClientUnavailable, official_python
from tests.fixtures.client_checks import (
    assert_faucet_funded,
    assert_height_and_markets,
    assert_orders_on_the_indexer,
)
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.drivers import run_driver
from tests.fixtures.indexer_swagger import IndexerSwagger

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

DRIVER = Path(__file__).resolve().parents[3] / "scripts" / "official_client_driver.py"


@pytest.fixture(scope="module")
def official() -> Path:
    try:
        return official_python()
    except OfficialClientUnavailable as e:
        pytest.skip(f"PyPI unreachable, cannot install the official client: {e}")


@pytest.fixture(scope="module")
async def observed(official: Path, devnet: DevnetProcess) -> dict[str, Any]:
    """Everything the official client saw, as printed by the driver."""
    return await run_driver(
        str(official),
        str(DRIVER),
        "--grpc", devnet.grpc,
        "--indexer", devnet.indexer,
        "--ws", devnet.ws,
        "--faucet", devnet.indexer,
    )  # fmt: skip


async def test_orders_are_accepted_and_cancelled(observed: dict[str, Any]) -> None:
    for step in ("place_short", "place_long", "cancel_short", "cancel_long"):
        assert observed[step]["code"] == 0, (step, observed[step])
        assert len(observed[step]["txhash"]) == 64


async def test_the_faucet_funds_the_account_and_subaccount(observed: dict[str, Any]) -> None:
    assert_faucet_funded(observed)
    # The node's subaccount: 10,000 USDC as quote quantums (SerializableInt, base64 in JSON).
    node_sub = observed["node_subaccount"]
    assert node_sub["id"]["owner"] == observed["address"]
    assert node_sub["assetPositions"][0]["quantums"]


async def test_account_sequence_counts_only_stateful_txs(observed: dict[str, Any]) -> None:
    # The long-term place and cancel increment it; short-term txs do not (v4-chain
    # protocol/app/ante.go clobAnteHandle).
    before, after = observed["account_before"], observed["account_after"]
    assert after["number"] == before["number"]
    assert after["sequence"] == before["sequence"] + 2


async def test_height_and_markets_agree_between_node_and_indexer(
    observed: dict[str, Any], indexer_swagger: IndexerSwagger
) -> None:
    assert_height_and_markets(observed, indexer_swagger)
    assert 0 in observed["node_clob_pair_ids"]


async def test_indexer_reports_the_official_orders_like_the_real_indexer(
    observed: dict[str, Any], indexer_swagger: IndexerSwagger
) -> None:
    short, _ = assert_orders_on_the_indexer(observed, indexer_swagger)
    assert short["clientMetadata"] == "2"  # the official client always sends 2 (§0.3)
    wrapped = observed["indexer_subaccount_after"]
    indexer_swagger.validate_response(
        "/addresses/{address}/subaccountNumber/{subaccountNumber}", wrapped
    )
    indexer_swagger.validate_response("/assetPositions", observed["indexer_asset_positions"])
    indexer_swagger.validate_response(
        "/perpetualPositions", observed["indexer_perpetual_positions"]
    )
