"""``LocalCluster``'s balancer port: we bind it and HAProxy inherits the socket, so port 0 works
(``make run REPLICAS=3 DYDX_ROUTER_PORT=0``) and a port another process holds fails at start,
never answered by that process (CI once had a stranger's /health pass a readiness check)."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from dydx_router.localcluster import REPLICA_HEADER, Backend, LocalCluster

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_ok() -> Iterator[int]:
    """A server answering 200 to every GET (a replica's, or a stranger's, /health)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_port_0_gets_the_port_the_balancer_listens_on(tmp_path: Path, http_ok: int) -> None:
    cluster = LocalCluster(1, "127.0.0.1", 0, tmp_path)
    cluster.backends.append(Backend("router1", "127.0.0.1", http_ok))
    try:
        cluster.start_balancer()
        assert cluster.port != 0
        resp = httpx.get(cluster.url + "/health", timeout=5)
        assert resp.status_code == 200 and resp.headers[REPLICA_HEADER] == "router1"
    finally:
        cluster.stop(grace=5)


def test_a_port_someone_else_serves_on_fails_at_start(tmp_path: Path, http_ok: int) -> None:
    # The stranger listens where the balancer should: its /health must not pass for ours.
    cluster = LocalCluster(1, "127.0.0.1", http_ok, tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        cluster.backends.append(Backend("router1", "127.0.0.1", int(s.getsockname()[1])))
    try:
        with pytest.raises(RuntimeError, match="API port"):
            cluster.start_balancer()
    finally:
        cluster.stop(grace=5)
