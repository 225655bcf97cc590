"""The official TypeScript client's test may skip for one reason only, an unreachable npm registry:
`scripts/ts_client.py` tells that apart from every other install failure, `make system-deps`
installs Node and npm where they are missing, and `make test` prints each skip's reason."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from scripts.ts_client import NpmRegistryUnreachable, ensure_installed, unreachable_request

ROOT = Path(__file__).resolve().parents[3]
REGISTRY = "https://registry.npmjs.org/"

# npm 11's output (minipass-fetch FetchError), as printed by `npm ci` on this machine.
ENOTFOUND = """npm error code ENOTFOUND
npm error syscall getaddrinfo
npm error errno ENOTFOUND
npm error network request to https://registry.npmjs.org/xstream failed, reason: getaddrinfo ENOTFOUND registry.npmjs.org
npm error network This is a problem related to network connectivity.
npm error network In most cases you are behind a proxy or have bad network settings.
npm error network If you are behind a proxy, please make sure that the 'proxy' config is set properly.  See: 'npm help config'
"""  # noqa: E501
ECONNREFUSED_MIRROR = """npm error code ECONNREFUSED
npm error FetchError: request to http://127.0.0.1:4873/xstream failed, reason: connect ECONNREFUSED 127.0.0.1:4873
npm error     at ClientRequest.<anonymous> (/usr/lib/node_modules/npm/node_modules/minipass-fetch/lib/index.js:130:14)
npm error If you are behind a proxy, please make sure that the 'proxy' config is set properly.  See: 'npm help config'
"""  # noqa: E501
SELF_SIGNED = """npm error code SELF_SIGNED_CERT_IN_CHAIN
npm error errno SELF_SIGNED_CERT_IN_CHAIN
npm error request to https://registry.npmjs.org/xstream failed, reason: self-signed certificate in certificate chain
"""  # noqa: E501
HTTP_403_FROM_PROXY = """npm error code E403
npm error 403 403 Forbidden - GET https://registry.npmjs.org/xstream
npm error 403 In most cases, you or one of your dependencies are requesting
npm error If you are behind a proxy, please make sure that the 'proxy' config is set properly.
"""
RESET_MID_DOWNLOAD = """npm error code ECONNRESET
npm error network request to https://registry.npmjs.org/xstream/-/xstream-11.14.0.tgz failed, reason: socket hang up
"""  # noqa: E501
OTHER_HOST = """npm error code ENOTFOUND
npm error network request to https://codeload.github.com/x/y/tar.gz/abc failed, reason: getaddrinfo ENOTFOUND codeload.github.com
"""  # noqa: E501


def test_only_a_request_to_the_registry_that_got_no_answer_is_unreachable() -> None:
    found = unreachable_request(ENOTFOUND, REGISTRY)
    assert found is not None and "getaddrinfo ENOTFOUND registry.npmjs.org" in found
    # a configured mirror (npm swaps the lock file's registry host for it)
    assert unreachable_request(ECONNREFUSED_MIRROR, "http://127.0.0.1:4873/") is not None
    # the registry answered, or something else is wrong: these must fail the test, not skip it
    for output in (SELF_SIGNED, HTTP_403_FROM_PROXY, RESET_MID_DOWNLOAD, OTHER_HOST):
        assert unreachable_request(output, REGISTRY) is None, output
    # the mirror's host is not the registry's when another registry is configured
    assert unreachable_request(ECONNREFUSED_MIRROR, REGISTRY) is None


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "package-lock.json").write_text("{}")
    return project


def _fake(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def _fake_npm(bin_dir: Path, ci_output: str) -> None:
    (bin_dir / "ci-output").write_text(ci_output)
    _fake(
        bin_dir,
        "npm",
        f'if [ "$1" = config ]; then echo {REGISTRY}; exit 0; fi\n'
        f'cat "{bin_dir}/ci-output" >&2; exit 1',
    )


@pytest.mark.parametrize("program", ["node", "npm"])
def test_node_or_npm_missing_fails_instead_of_skipping(
    program: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if program == "npm":
        _fake(bin_dir, "node", "exit 0")
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(RuntimeError, match=rf"{program} is not installed.*make system-deps") as e:
        ensure_installed(_project(tmp_path))
    assert not isinstance(e.value, NpmRegistryUnreachable)


@pytest.mark.parametrize(
    ("ci_output", "unreachable"),
    [(ENOTFOUND, True), (SELF_SIGNED, False), (HTTP_403_FROM_PROXY, False)],
    ids=["enotfound", "self-signed-cert", "http-403"],
)
def test_npm_ci_failure_is_unreachable_only_for_a_network_error(
    ci_output: str, unreachable: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake(bin_dir, "node", "exit 0")
    _fake_npm(bin_dir, ci_output)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")  # /bin/sh's cat
    with pytest.raises(RuntimeError) as e:
        ensure_installed(_project(tmp_path))
    assert isinstance(e.value, NpmRegistryUnreachable) is unreachable, e.value


def _system_deps(bin_dir: Path) -> str:
    """Run `make system-deps` with only `bin_dir` on PATH; what the fake apt-get was asked."""
    make = shutil.which("make")
    assert make is not None
    log = bin_dir / "apt-get.log"
    _fake(bin_dir, "apt-get", f'echo "$@" >> "{log}"')
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    subprocess.run(
        [make, "-s", "-C", str(ROOT), "system-deps"],
        env={**env, "PATH": str(bin_dir)},
        check=True,
        capture_output=True,
        timeout=60,
    )
    return log.read_text() if log.exists() else ""


def test_system_deps_installs_node_and_npm_only_when_node_is_missing(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for present in ("chromium", "haproxy"):
        _fake(bin_dir, present, "exit 0")
    assert _system_deps(bin_dir).splitlines() == ["update -q", "install -y -q nodejs npm"]
    (bin_dir / "apt-get.log").unlink()
    _fake(bin_dir, "node", "exit 0")  # the machine's own Node (its npm beside it): left alone
    assert _system_deps(bin_dir) == ""


def test_make_test_prints_every_skip_reason() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in ("test", "test-integration"):
        recipe = re.search(rf"^{target}:.*\n\t(.*)$", makefile, re.M)
        assert recipe is not None, target
        assert recipe[1].startswith("$(BIN)/pytest ") and "-rs" in recipe[1].split(), recipe[1]
