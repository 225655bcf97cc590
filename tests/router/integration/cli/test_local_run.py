"""`make run`'s command as a user sees it: every step announced and timed, in order, the devnet
booting while the database is migrated, and the two lines scripts read last
(`dydx-router local run` against a real PostgreSQL and a real devnet)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.fixtures.db import empty_database

pytestmark = pytest.mark.integration
TIMED = r"done in \d+\.\ds"


def test_local_run_prints_each_step_with_its_time_then_the_api_lines(
    pg_server_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYDX_ROUTER_")}
    with empty_database(pg_server_url, "localrun") as url:
        env.update(
            {
                "DATABASE_URL": url,
                "DYDX_ROUTER_LOCAL_DIR": str(tmp_path),
                # 0: the API binds a port of the kernel's choosing and prints the one it got
                # (a port picked beforehand could be taken meanwhile by another worker).
                "DYDX_ROUTER_PORT": "0",
                "DYDX_ROUTER_LOG_FORMAT": "json",
                "DEVNET_ARGS": "--grpc-port 0 --indexer-port 0 --ws-port 0 --admin-port 0 "
                "--rpc-port 0 --block-time 0.2",
                # As the Makefile's run target sets them.
                "MAKE_RUN_STARTED": f"{time.time():.6f}",
                "MAKE_RUN_INSTALL_S": "0.0",
            }
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "dydx_router.cli", "local", "run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        lines: list[str] = []
        try:
            assert process.stdout is not None
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                line = process.stdout.readline()
                if not line:
                    break
                if not line.startswith("{"):  # JSON log lines are the service's, not ours
                    lines.append(line.rstrip("\n"))
                if line.startswith("API key:"):
                    break
            assert lines and lines[-1].startswith("API key:"), "\n".join(lines)
            api = re.fullmatch(r"API URL: http://127\.0\.0\.1:(\d+)", lines[-2])
            assert api is not None and api.group(1) != "0", lines[-2]
            port = int(api.group(1))
            health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
            assert health.status_code == 200
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
            if process.stdout is not None:
                process.stdout.close()

    steps = [line for line in lines if line.startswith("[run] ")]
    expected = [
        r"\[run\] devnet: starting in the background \(log: .+devnet\.log\)",
        r"\[run\] database: DATABASE_URL \.\.\.",
        rf"\[run\] database: {TIMED}",
        r"\[run\] migrations: alembic upgrade head \.\.\.",
        rf"\[run\] migrations: {TIMED}",
        rf"\[run\] devnet: {TIMED} \(since its start\)",
        r"\[run\] API: starting \.\.\.",
        rf"\[run\] API: {TIMED}",
        r"\[run\] ready \d+\.\ds after `make run` started \(install 0\.0s, start-up \d+\.\ds, "
        r"database \d+\.\ds, migrations \d+\.\ds, devnet \d+\.\ds, API \d+\.\ds\)",
    ]
    assert len(steps) == len(expected), json.dumps(steps, indent=1)
    for line, pattern in zip(steps, expected, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)
    # The last two lines stay the ones scripts read; the summary comes just before them.
    assert lines[-2] == f"API URL: http://127.0.0.1:{port}"
    assert lines[-1].startswith("API key: none minted")  # DATABASE_URL set: no demo key
    assert lines[-3] == steps[-1]
    assert process.returncode is not None
