"""The official TypeScript client's npm project, installed once and reused.

    python scripts/ts_client.py        # install (npm ci) if needed; print the project directory

`tests/devnet/integration/ts_client/` holds a committed package.json and package-lock.json that
pin `@dydxprotocol/v4-client-js`; `npm ci` installs exactly that into its git-ignored
`node_modules` (about 30 s, 113 packages). A stamp in `node_modules` records the sha256 of the
lock file it was made from, so later runs reuse it until the lock file changes. A file lock
serializes concurrent installs.

`NpmRegistryUnreachable` is raised only when `npm ci` failed because a request to the registry
failed at the network level (DNS, refused, timed out, no route): the one reason the test may
skip. Node or npm missing (`make system-deps` installs Debian's `nodejs` and `npm`), a TLS or
proxy error, an HTTP error from the registry, a corrupt lock file: `RuntimeError`, so the test
fails and a broken machine is never mistaken for a missing network.
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "tests" / "devnet" / "integration" / "ts_client"
_STAMP = ".installed-lock-sha256"
_INSTALL_TIMEOUT_S = 900
# The lock file's `resolved` URLs name this host; npm swaps it for the configured registry
# (npm's `replace-registry-host`, default "npmjs").
_LOCK_REGISTRY_HOST = "registry.npmjs.org"
_MISSING = "{} is not installed: `make system-deps` installs Debian's nodejs and npm"
# How npm (minipass-fetch's FetchError) reports a request that never got an answer, e.g.
#   request to https://registry.npmjs.org/xstream failed, reason: getaddrinfo ENOTFOUND ...
#   request to http://127.0.0.1:9/xstream failed, reason: connect ECONNREFUSED 127.0.0.1:9
# Only these system errors mean "unreachable"; TLS errors (SELF_SIGNED_CERT_IN_CHAIN, ...), an
# HTTP status, ECONNRESET mid-download or an integrity mismatch are failures to look at.
_UNREACHABLE = re.compile(
    r"request to (?P<url>\S+) failed, reason: [^\n]*"
    r"\b(?:ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH)\b[^\n]*"
)


class NpmRegistryUnreachable(RuntimeError):
    """`npm ci` could not reach the npm registry (DNS, refused, timed out, no route)."""


def unreachable_request(npm_output: str, registry: str) -> str | None:
    """npm's message for a request to the registry that got no answer at all, if there is one.

    `registry` is the configured one (`npm config get registry`); a request elsewhere (a git
    dependency, a tarball URL on another host) failing is not the registry being unreachable.
    """
    hosts = {_LOCK_REGISTRY_HOST, urlsplit(registry).hostname}
    for m in _UNREACHABLE.finditer(npm_output):
        if urlsplit(m["url"]).hostname in hosts:
            return m[0]
    return None


def _lock_digest(project: Path) -> str:
    return hashlib.sha256((project / "package-lock.json").read_bytes()).hexdigest()


def _installed(project: Path) -> bool:
    stamp = project / "node_modules" / _STAMP
    return stamp.exists() and stamp.read_text().strip() == _lock_digest(project)


def _which(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise RuntimeError(_MISSING.format(program))
    return path


def node_binary() -> str:
    return _which("node")


def _registry(npm: str, project: Path) -> str:
    r = subprocess.run(
        [npm, "config", "get", "registry"], cwd=project, capture_output=True, text=True, timeout=60
    )
    return r.stdout.strip()


def ensure_installed(project: Path = PROJECT) -> Path:
    """The project directory with its node_modules installed from the lock file."""
    node_binary()
    if _installed(project):
        return project
    npm = _which("npm")
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
            output = r.stderr + r.stdout
            unreachable = unreachable_request(output, _registry(npm, project))
            if unreachable is not None:
                raise NpmRegistryUnreachable(f"npm ci cannot reach the registry: {unreachable}")
            raise RuntimeError(f"npm ci failed in {project}: {output[-2000:]}")
        (project / "node_modules" / _STAMP).write_text(_lock_digest(project) + "\n")
    return project


if __name__ == "__main__":
    print(ensure_installed())
