"""``LocalCluster``'s ports: we bind them and the processes inherit the sockets (HAProxy the
balancer's, each replica its own with ``serve --fd``), so port 0 works (``make run REPLICAS=3
DYDX_ROUTER_PORT=0``), a port another process holds fails at start, never answered by that process
(CI once had a stranger's /health pass a readiness check), and no port is handed on unheld."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from dydx_router.localcluster import REPLICA_HEADER, Backend, Child, LocalCluster

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


# A replica's stand-in: serves 200 on the socket ``--fd N`` names, as ``serve --fd`` does
# (tests/router/unit/test_serve_fd.py runs the real command).
STAND_IN = """
import socket, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Ok(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = HTTPServer(("127.0.0.1", 0), Ok, bind_and_activate=False)
server.socket.close()
server.socket = socket.socket(fileno=int(sys.argv[sys.argv.index("--fd") + 1]))
server.socket.listen()
server.serve_forever()
"""


def _held(port: int) -> bool:
    """Whether some socket holds ``port`` (ours: nothing else listens on it in this test)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def test_replicas_serve_on_sockets_bound_before_they_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = LocalCluster(2, "127.0.0.1", 0, tmp_path)
    cluster.serve_command = [sys.executable, "-c", STAND_IN]
    spawned: list[tuple[list[str], tuple[int, ...]]] = []
    spawn = cluster._spawn

    def checked_spawn(
        name: str, args: list[str], env: object = None, pass_fds: tuple[int, ...] = ()
    ) -> Child:
        if name != "haproxy":
            # The port the balancer will name is held when the replica starts, by the socket
            # it inherits: no other process can have taken it meanwhile.
            (backend,) = [b for b in cluster.backends if b.name == name]
            assert _held(backend.port), f"{name}'s port {backend.port} was free at spawn"
            assert "--port" not in args and "--fd" in args, args
            fd = int(args[args.index("--fd") + 1])
            assert fd in pass_fds
            with socket.socket(fileno=os.dup(fd)) as inherited:
                assert inherited.getsockname() == ("127.0.0.1", backend.port)
            spawned.append((args, pass_fds))
        return spawn(name, args, env, pass_fds)  # type: ignore[arg-type]

    monkeypatch.setattr(cluster, "_spawn", checked_spawn)
    try:
        cluster.start(dict(os.environ), timeout=20)
        assert len(spawned) == 2
        ports = {b.port for b in cluster.backends}
        assert len(ports) == 2 and 0 not in ports
        assert all(f"127.0.0.1:{p}" in cluster.config.read_text() for p in ports)
        served = {httpx.get(cluster.url + "/", timeout=5).headers[REPLICA_HEADER] for _ in range(4)}
        assert served == {"router1", "router2"}

        # Our copies are closed: a dead replica's port refuses at once (nothing queues on it).
        (router1,) = [c for c in cluster.children if c.name == "router1"]
        port = cluster.backends[0].port
        os.kill(router1.process.pid, signal.SIGKILL)
        router1.process.wait(5)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        # Restarted, it serves on the port the balancer's configuration names.
        cluster.start_replica(1)
        assert cluster.backends[0].port == port
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
    finally:
        cluster.stop(grace=5)
