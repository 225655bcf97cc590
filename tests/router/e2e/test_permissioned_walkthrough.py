"""docs/permissioned-keys.md, "Walkthrough on the devnet", run as written: the shell block is
taken from the document and run by bash against the session devnet, with only the addresses
(node, indexer, router port, database) and the home and scratch files replaced. A command in
the walkthrough that does not work fails here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.db import empty_database
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "permissioned-keys.md"


def walkthrough() -> str:
    text = DOC.read_text()
    section = text.split("## Walkthrough on the devnet", 1)[1]
    return section.split("```\n", 2)[1]


def test_the_devnet_walkthrough_runs_as_written(
    devnet: DevnetProcess, pg_server_url: str, tmp_path: Path
) -> None:
    script = walkthrough()
    lines = script.splitlines()
    assert lines[0].startswith("dydx-router devnet ")  # the session devnet stands in for it
    port = free_port()
    with empty_database(pg_server_url, "walkthrough") as db:
        for doc_value, ours in {
            "127.0.0.1:9090": devnet.grpc,
            "localhost:3002": devnet.indexer.removeprefix("http://"),
            "localhost:8080": f"127.0.0.1:{port}",
            "--port 8080": f"--port {port}",
            "postgresql://postgres@127.0.0.1:5432/router": db,
            "/tmp/owner": str(tmp_path / "owner"),
            "/tmp/grant": str(tmp_path / "grant"),
        }.items():
            assert doc_value in script, doc_value
            script = script.replace(doc_value, ours)
        body = "\n".join(script.splitlines()[1:])
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DYDX_ROUTER_") and k != "DATABASE_URL"
        }
        # the devnet network's default indexer addresses are the doc's ports: ours differ
        env["DYDX_ROUTER_INDEXER_URLS"] = devnet.indexer
        env["DYDX_ROUTER_INDEXER_WS_URLS"] = devnet.ws
        env["HOME"] = str(tmp_path / "home")
        env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
        r = subprocess.run(
            ["bash", "-c", "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null' EXIT\n" + body],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    key_file = tmp_path / "home" / ".dydx-router" / "trading-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert "(configured)" in r.stdout
    orders = [json.loads(x) for x in r.stdout.splitlines() if x.startswith('{"id"')]
    assert len(orders) == 4, r.stdout
    btc, eth, sub1, revoked = orders
    assert btc["status"] in ("SUBMITTED", "OPEN", "FILLED"), json.dumps(btc["error"])
    assert btc["chain"]["owner"] in r.stdout.split("DYDX_ROUTER_OWNER_ADDRESS=")[1]
    for refused, code, named in (
        (eth, 104, "ClobPairIdFilter"),
        (sub1, 104, "SubaccountFilter"),
        (revoked, 1, "does not exist"),
    ):
        assert refused["status"] == "REJECTED", refused
        assert (refused["error"]["codespace"], refused["error"]["code"]) == (
            "dydxaccountplus",
            code,
        )
        assert named in refused["error"]["log"]
