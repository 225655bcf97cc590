"""The official `dydx-v4-client==1.1.5`, unmodified, with a permissioned key on the devnet:
`add_authenticator` signed by the owner, then `place_order` / `cancel_order` signed by the
trading key with `TxOptions(authenticators=[id], ...)`
(scripts/official_client_permissioned_driver.py, run in `.venv-official`, its own process: the
official client's `async` methods block). Skips only when PyPI is unreachable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scripts.official_client_venv import OfficialClientUnavailable, official_python
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.drivers import run_driver

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

DRIVER = Path(__file__).resolve().parents[3] / "scripts" / "official_client_permissioned_driver.py"


@pytest.fixture(scope="module")
def official() -> Path:
    try:
        return official_python()
    except OfficialClientUnavailable as e:
        pytest.skip(f"PyPI unreachable, cannot install the official client: {e}")


@pytest.fixture(scope="module")
async def observed(official: Path, devnet: DevnetProcess) -> dict[str, Any]:
    return await run_driver(
        str(official),
        str(DRIVER),
        "--grpc", devnet.grpc,
        "--indexer", devnet.indexer,
    )  # fmt: skip


async def test_add_authenticator_is_accepted_and_listed(observed: dict[str, Any]) -> None:
    assert observed["add_authenticator"]["code"] == 0, observed["add_authenticator"]
    assert observed["authenticator"]["type"] == "AllOf"


async def test_permissioned_place_and_cancel_are_accepted(observed: dict[str, Any]) -> None:
    assert observed["place_BTC-USD"]["code"] == 0, observed["place_BTC-USD"]
    assert observed["cancel_BTC-USD"]["code"] == 0, observed["cancel_BTC-USD"]


async def test_a_market_outside_the_filter_is_refused(observed: dict[str, Any]) -> None:
    r = observed["place_ETH-USD"]
    assert (r["codespace"], r["code"]) == ("dydxaccountplus", 104)
    assert "order id 1 not in whitelist map[0:{}]: Clob pair id verification failed" in r["raw_log"]
