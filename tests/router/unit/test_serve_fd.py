"""``dydx-router serve --fd N`` serves on the socket the parent bound and passed, so the port is
held from the parent's choice to the API listening (``LocalCluster`` starts its replicas so).
The real command with the application replaced by a stand-in: what is tested is where it
listens, not the API."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

# ``serve`` as the user runs it, the application answering 200 ``ok`` to every request.
SERVE = """
import sys
import dydx_router.asgi

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})

dydx_router.asgi.create_app = lambda settings: app
from dydx_router.cli import app as cli
cli(["serve", *sys.argv[1:]], prog_name="dydx-router")
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYDX_ROUTER_")}
    # Required by ``serve``, never connected to by the stand-in.
    env["DATABASE_URL"] = "postgresql://postgres@127.0.0.1:1/none"
    return env


def test_it_serves_on_the_inherited_socket(tmp_path: Path) -> None:
    log_path = tmp_path / "serve.log"
    sock = socket.create_server(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    with sock, log_path.open("wb") as log:
        fd = sock.fileno()
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, "--fd", str(fd)],
            env=_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(fd,),
        )
    try:
        deadline = time.monotonic() + 30
        while f"Uvicorn running on http://127.0.0.1:{port} " not in log_path.read_text():
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        resp = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        assert (resp.status_code, resp.text) == (200, "ok")
    finally:
        process.terminate()
        process.wait(20)
    # Only the server held the socket after the start: its port is free again.
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--fd", "{file}"], "not an open socket"),
        (["--fd", "{udp}"], "not a TCP socket"),
        (["--fd", "{unbound}"], "not bound"),
        (["--fd", "{udp}", "--port", "8080"], "without --host and --port"),
    ],
    ids=["a-file", "udp", "unbound", "with-port"],
)
def test_a_descriptor_it_cannot_serve_on_fails_with_one_line(
    tmp_path: Path, args: list[str], says: str
) -> None:
    with (
        (tmp_path / "f").open("w") as file,
        socket.socket(type=socket.SOCK_DGRAM) as udp,
        socket.socket() as unbound,
    ):
        udp.bind(("127.0.0.1", 0))
        fds = {"file": file.fileno(), "udp": udp.fileno(), "unbound": unbound.fileno()}
        done = subprocess.run(
            [sys.executable, "-c", SERVE, *(a.format(**fds) for a in args)],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
            pass_fds=tuple(fds.values()),
        )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and says in done.stderr, done.stderr
