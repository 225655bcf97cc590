"""The service as a process: probes, OpenAPI docs and the error shape, over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYDX_ROUTER_")}
    env.update({"DATABASE_URL": database_url, "DYDX_ROUTER_LOG_FORMAT": "json"})
    log = (tmp_path / "service.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dydx_router.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("service did not start: " + (tmp_path / "service.log").read_text())
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_probes_docs_and_error_shape(service: str) -> None:
    assert httpx.get(service + "/health").json() == {"status": "ok"}
    ready = httpx.get(service + "/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    docs = httpx.get(service + "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = httpx.get(service + "/openapi.json").json()
    assert "/health" in spec["paths"]
    missing = httpx.get(service + "/nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "not_found", "message": "Not Found"}}
