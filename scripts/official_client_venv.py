"""The official dYdX Python client in its own virtualenv, created once and reused.

    python scripts/official_client_venv.py        # create/verify .venv-official, print its python

`dydx-v4-client==1.1.5` pins `v4-proto<9` while this project uses the 9.x stubs, so the official
client cannot share `.venv`; and its `async` methods make blocking gRPC calls (its
`dydx_v4_client/network.py` builds a blocking `grpc.Channel`),
so it runs in its own process anyway. `official_python()` is idempotent and safe to call from
several processes at once (a file lock serializes creation); a half-made venv is repaired.

`OfficialClientUnavailable` means PyPI could not be reached; any other failure raises
`RuntimeError`, so a broken install is never mistaken for a missing network.
"""

from __future__ import annotations

import fcntl
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL_VENV = ROOT / ".venv-official"
OFFICIAL_REQUIREMENT = "dydx-v4-client==1.1.5"
_VERSION = OFFICIAL_REQUIREMENT.split("==")[1]
_INSTALL_TIMEOUT_S = 900
# pip's messages when no connection to the index could be made at all (DNS, refused, no route,
# connect timeout), as its retry warnings print them: "Retrying (...) after connection broken by
# 'NewConnectionError(...: Failed to establish a new connection: [Errno 111] Connection
# refused')'". A TLS failure, a proxy's refusal or a missing version reached the index: they
# fail the test rather than skip it.
_NETWORK_ERRORS = re.compile(
    r"NewConnectionError|NameResolutionError|ConnectTimeoutError|"
    r"Failed to establish a new connection|Temporary failure in name resolution|"
    r"Name or service not known|Network is unreachable",
)


def index_unreachable(pip_output: str) -> bool:
    """Whether a failed `pip install` failed because the index could not be reached."""
    return _NETWORK_ERRORS.search(pip_output) is not None


class OfficialClientUnavailable(RuntimeError):
    """The virtualenv could not be made because the package index is unreachable."""


def _has_client(python: Path) -> bool:
    if not python.exists():
        return False
    code = (
        "import importlib.metadata as m\n"
        f"assert m.version('dydx-v4-client') == '{_VERSION}'\n"
        "import dydx_v4_client.node.client, dydx_v4_client.indexer.rest.indexer_client\n"
    )
    r = subprocess.run([str(python), "-c", code], capture_output=True, timeout=120)
    return r.returncode == 0


def official_python(venv: Path = OFFICIAL_VENV) -> Path:
    """The venv's python with the official client importable, creating the venv if needed."""
    python = venv / "bin" / "python"
    if _has_client(python):
        return python
    # The lock lives inside the venv directory (git-ignored with it); `python -m venv` creates
    # into an existing directory without touching it.
    venv.mkdir(parents=True, exist_ok=True)
    with (venv / ".official-client.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _has_client(python):  # another process made it while we waited
            return python
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        r = subprocess.run(
            [
                str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                OFFICIAL_REQUIREMENT,
            ],
            capture_output=True,
            text=True,
            timeout=_INSTALL_TIMEOUT_S,
        )  # fmt: skip
        if r.returncode != 0:
            tail = (r.stderr or r.stdout)[-2000:]
            # The whole output: pip's "Location ... is ignored" lines can push the retry warning
            # out of the tail.
            if index_unreachable(r.stderr + r.stdout):
                raise OfficialClientUnavailable(f"cannot install {OFFICIAL_REQUIREMENT}: {tail}")
            raise RuntimeError(f"pip install {OFFICIAL_REQUIREMENT} failed: {tail}")
        if not _has_client(python):
            raise RuntimeError(f"{venv} has no working {OFFICIAL_REQUIREMENT} after install")
    return python


if __name__ == "__main__":
    print(official_python())
