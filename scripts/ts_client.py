"""The official TypeScript client's npm project, installed once and reused.

    python scripts/ts_client.py        # install (npm ci) if needed; print the project directory

`tests/devnet/integration/ts_client/` holds a committed package.json and package-lock.json that
pin `@dydxprotocol/v4-client-js`; `npm ci` installs exactly that into its git-ignored
`node_modules` (about 30 s, 113 packages). A stamp in `node_modules` records the sha256 of the
lock file it was made from, so later runs reuse it until the lock file changes. A file lock
serializes concurrent installs.

`TsClientUnavailable` means Node/npm is not installed or the npm registry could not be reached;
any other failure raises `RuntimeError`, so a broken install is never mistaken for a missing
network.
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "tests" / "devnet" / "integration" / "ts_client"
_STAMP = ".installed-lock-sha256"
_INSTALL_TIMEOUT_S = 900
# npm's error codes when the registry cannot be reached (DNS, refused, reset, timeouts, proxy).
_NETWORK_ERRORS = re.compile(
    r"ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|"
    r"ERR_SOCKET_TIMEOUT|network request to .* failed|request to .* failed|UNABLE_TO_GET_ISSUER|"
    r"SELF_SIGNED_CERT|proxy",
    re.IGNORECASE,
)


class TsClientUnavailable(RuntimeError):
    """Node/npm missing, or the npm registry unreachable."""


def _lock_digest(project: Path) -> str:
    return hashlib.sha256((project / "package-lock.json").read_bytes()).hexdigest()


def _installed(project: Path) -> bool:
    stamp = project / "node_modules" / _STAMP
    return stamp.exists() and stamp.read_text().strip() == _lock_digest(project)


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        raise TsClientUnavailable("node is not installed")
    return node


def ensure_installed(project: Path = PROJECT) -> Path:
    """The project directory with its node_modules installed from the lock file."""
    node_binary()
    if _installed(project):
        return project
    npm = shutil.which("npm")
    if npm is None:
        raise TsClientUnavailable("npm is not installed")
    # The lock is beside node_modules (git-ignored): `npm ci` deletes node_modules first.
    with (project / ".npm-install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed(project):  # another process installed it while we waited
            return project
        r = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=_INSTALL_TIMEOUT_S,
        )
        if r.returncode != 0:
            tail = (r.stderr or r.stdout)[-2000:]
            if _NETWORK_ERRORS.search(tail):
                raise TsClientUnavailable(f"npm ci cannot reach the registry: {tail}")
            raise RuntimeError(f"npm ci failed in {project}: {tail}")
        (project / "node_modules" / _STAMP).write_text(_lock_digest(project) + "\n")
    return project


if __name__ == "__main__":
    print(ensure_installed())
