"""`dydx-router doctor` as an operator runs it, against the devnet and PostgreSQL over real
sockets: passing, and failing with a clear row for each broken dependency."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bip_utils import Bip39MnemonicGenerator, Bip39WordsNum
from tests.fixtures.db import empty_database, fresh_database
from tests.fixtures.devnet import DevnetProcess

from dydx_router import doctor
from dydx_router.localdev import wallet_address

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[4]


def _mnemonic() -> str:
    return str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24))


@pytest.fixture(scope="module")
def doctor_db(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url, "doctor") as url:
        yield url


@pytest.fixture(scope="module")
def funded(devnet: DevnetProcess) -> str:
    mnemonic = _mnemonic()
    asyncio.run(devnet.fund(wallet_address(mnemonic), "5000"))
    return mnemonic


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_doctor(**env: str) -> tuple[int, dict[str, str]]:
    """Exit status and each row's ``result detail`` by check name."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("DYDX_ROUTER_")}
    full.pop("DATABASE_URL", None)
    full.update(COLUMNS="400", NO_COLOR="1", **env)
    cmd = [sys.executable, "-m", "dydx_router.cli", "doctor"]
    done = subprocess.run(cmd, env=full, capture_output=True, text=True, timeout=120)
    rows = {}
    for line in done.stdout.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if len(cells) == 3 and cells[1] in {"ok", "FAIL"}:
            rows[cells[0]] = f"{cells[1]} {cells[2]}"
    assert rows, done.stdout + done.stderr
    return done.returncode, rows


@pytest.fixture
def env(devnet: DevnetProcess, doctor_db: str, funded: str) -> dict[str, str]:
    return {
        "DATABASE_URL": doctor_db,
        "DYDX_ROUTER_MNEMONIC": funded,
        "DYDX_ROUTER_NODE_ENDPOINTS": devnet.grpc,
        "DYDX_ROUTER_INDEXER_URLS": devnet.indexer,
    }


def test_a_working_deployment_passes_every_check(env: dict[str, str], funded: str) -> None:
    code, rows = run_doctor(**env)
    assert code == 0, rows
    assert all(r.startswith("ok") for r in rows.values()), rows
    node = rows[f"node grpc://{env['DYDX_ROUTER_NODE_ENDPOINTS']}"]
    assert "chain localdydxprotocol" in node
    assert rows["database"].startswith("ok PostgreSQL")
    # The test server has no standby: a failover could lose what it last committed.
    assert rows["database"].endswith("synchronous standbys: none")
    assert wallet_address(funded) in rows["wallet"] and "5000" in rows["wallet"]
    assert f"indexer {env['DYDX_ROUTER_INDEXER_URLS']}" in rows


def test_database_down(env: dict[str, str]) -> None:
    port = _closed_port()
    code, rows = run_doctor(**{**env, "DATABASE_URL": f"postgresql://u@127.0.0.1:{port}/x"})
    assert code == 1
    assert rows["database"].startswith("FAIL") and "refused" in rows["database"].lower()
    assert rows["node grpc://" + env["DYDX_ROUTER_NODE_ENDPOINTS"]].startswith("ok")


def test_database_not_migrated(env: dict[str, str], pg_server_url: str) -> None:
    with empty_database(pg_server_url, "doctor_empty") as url:
        code, rows = run_doctor(**{**env, "DATABASE_URL": url})
    assert code == 1
    assert rows["database"].startswith("FAIL schema at nothing, head is")


def test_wrong_chain_id(env: dict[str, str]) -> None:
    code, rows = run_doctor(**env, DYDX_ROUTER_CHAIN_ID="dydx-mainnet-1")
    assert code == 1
    node = rows["node grpc://" + env["DYDX_ROUTER_NODE_ENDPOINTS"]]
    assert node == "FAIL chain id 'localdydxprotocol', expected 'dydx-mainnet-1'"


def test_node_unreachable(env: dict[str, str]) -> None:
    dead = f"127.0.0.1:{_closed_port()}"
    endpoints = f"{dead},{env['DYDX_ROUTER_NODE_ENDPOINTS']}"
    code, rows = run_doctor(**{**env, "DYDX_ROUTER_NODE_ENDPOINTS": endpoints})
    assert code == 1
    assert rows[f"node grpc://{dead}"].startswith("FAIL unreachable: UNAVAILABLE")
    assert rows["node grpc://" + env["DYDX_ROUTER_NODE_ENDPOINTS"]].startswith("ok")


def test_unfunded_wallet_and_missing_risk_limits(env: dict[str, str]) -> None:
    unfunded = _mnemonic()
    code, rows = run_doctor(
        **{**env, "DYDX_ROUTER_MNEMONIC": unfunded}, DYDX_ROUTER_REQUIRE_RISK_LIMITS="true"
    )
    assert code == 1
    assert rows["wallet"].startswith(f"FAIL {wallet_address(unfunded)}/0: no subaccount")
    assert rows["risk limits"].startswith("FAIL global limits not set")


def test_a_bad_setting_is_one_failing_row() -> None:
    code, rows = run_doctor(DYDX_ROUTER_NODE_ENDPOINTS="not a url")
    assert code == 1
    assert rows == {"configuration": rows["configuration"]}
    assert rows["configuration"].startswith("FAIL DYDX_ROUTER_NODE_ENDPOINTS:")


def test_the_public_demo_key_is_refused_off_the_devnet(env: dict[str, str]) -> None:
    mnemonic = (ROOT / "deploy/devnet/demo.mnemonic").read_text().strip()
    assert wallet_address(mnemonic) == doctor.DEMO_ADDRESS
    code, rows = run_doctor(
        **{**env, "DYDX_ROUTER_MNEMONIC": mnemonic},
        DYDX_ROUTER_NETWORK="testnet",
        DYDX_ROUTER_CHAIN_ID="localdydxprotocol",
    )
    assert code == 1
    assert (
        rows["wallet"]
        == f"FAIL {doctor.DEMO_ADDRESS} is the public demo key: never use it off the devnet"
    )


async def _insert_pending(url: str, age_s: float) -> None:
    import uuid

    import asyncpg

    from dydx_router.store.database import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(
            "INSERT INTO orders (id, market, side, type, time_in_force, size, quantums, subticks,"
            " client_id, order_flags, clob_pair_id, address, subaccount_number,"
            " indexer_order_id, status, created_at)"
            " VALUES ($1, 'BTC-USD', 'BUY', 'LIMIT', 'GTT', 0.001, 1000000, 1000000, $2, 0, 0,"
            " 'dydx1x', 0, $3, 'PENDING', now() - make_interval(secs => $4))",
            uuid.uuid4(),
            int(age_s) % 2**32,
            uuid.uuid4(),
            age_s,
        )
    finally:
        await conn.close()


def test_an_order_left_pending_is_a_failing_placements_row(
    env: dict[str, str], pg_server_url: str
) -> None:
    # A PENDING order being placed now is normal; one left PENDING for an hour means nothing
    # settles it, and every retry with its Idempotency-Key answers 409 idempotency_in_flight.
    with fresh_database(pg_server_url, "doctor_pending") as url:
        asyncio.run(_insert_pending(url, age_s=0))
        code, rows = run_doctor(**{**env, "DATABASE_URL": url})
        assert code == 0, rows
        assert rows["placements"] == "ok 1 order(s) being placed, none PENDING for over 60 s"
        asyncio.run(_insert_pending(url, age_s=3600))
        code, rows = run_doctor(**{**env, "DATABASE_URL": url})
    assert code == 1
    assert re.match(
        r"FAIL 1 order\(s\) PENDING for over 60 s \(oldest 36\d\d s\)", rows["placements"]
    )
    assert "409 idempotency_in_flight" in rows["placements"]
    assert rows["database"].startswith("ok PostgreSQL")
