"""The router installs alone: serving the API imports no extra (the devnet, the embedded
PostgreSQL, the dev tools), and a command that needs a missing extra names it.

"Not installed" is simulated in a fresh interpreter by an import hook that refuses the extras'
modules, as an interpreter with only `pip install dydx-router` would (dydx_router/extras.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from dydx_router.extras import MissingExtra
from dydx_router.store.embedded import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[3]
# Top-level modules of the extras (pyproject.toml [project.optional-dependencies]).
EXTRA_MODULES = {
    "devnet": ["dydx_devnet"],
    "embedded": ["pgserver"],
    "dev": [
        "pytest",
        "_pytest",
        "xdist",
        "hypothesis",
        "schemathesis",
        "mypy",
        "datamodel_code_generator",
        "playwright",
    ],
}
# Our own modules that only local development uses.
LOCAL_ONLY = ["dydx_router.localdev", "dydx_router.store.embedded"]

BLOCKER = """
import importlib.abc, sys
BLOCKED = set({blocked!r})
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not installed)", name=name)
        return None
sys.meta_path.insert(0, Blocker())
"""


def run_without(blocked: list[str], body: str) -> subprocess.CompletedProcess[str]:
    script = BLOCKER.format(blocked=sorted(blocked)) + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def test_serving_the_api_imports_no_extra_and_no_local_tool() -> None:
    every_extra = [m for mods in EXTRA_MODULES.values() for m in mods]
    done = run_without(
        every_extra,
        f"""
        import json, sys
        from typer.testing import CliRunner
        from dydx_router.asgi import create_app
        import dydx_router.bootstrap
        from dydx_router.cli import app
        from dydx_router.config import Settings
        create_app(Settings()).openapi()
        for args in (["--help"], ["serve", "--help"], ["doctor", "--help"]):
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 0, (args, result.output)
        loaded = [m for m in sys.modules if m.partition(".")[0] in {every_extra!r}]
        loaded += [m for m in {LOCAL_ONLY!r} if m in sys.modules]
        print(json.dumps(loaded))
        """,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_the_devnet_command_without_the_extra_names_it() -> None:
    done = run_without(
        ["dydx_devnet"],
        """
        from dydx_router.cli import app
        app(["devnet", "--grpc-port", "0"])
        """,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "pip install 'dydx-router[devnet]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_make_run_without_the_devnet_extra_names_it(tmp_path: Path) -> None:
    done = run_without(
        ["dydx_devnet"],
        f"""
        import os
        os.environ["DYDX_ROUTER_LOCAL_DIR"] = {str(tmp_path)!r}
        os.environ.pop("DATABASE_URL", None)  # the embedded database, were anything started
        from dydx_router.cli import app
        app(["local", "up"])
        """,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "[devnet] extra" in done.stderr and "Traceback" not in done.stderr
    # Refused before anything started: no database left running, nothing recorded.
    assert not (tmp_path / "pgdata").exists() and not (tmp_path / "dev-up.json").exists()


def test_the_embedded_database_without_its_extra_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pgserver", None)  # `import pgserver` fails
    with pytest.raises(MissingExtra, match=re.escape("pip install 'dydx-router[embedded]'")):
        EmbeddedPostgres(tmp_path / "pgdata").start()


def test_runtime_dependencies_hold_no_extra_and_make_installs_what_each_target_needs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert {"devnet", "embedded", "dev"} <= set(extras)

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower() for r in requirements}

    runtime = names(project["dependencies"])
    for extra in ("embedded", "dev"):
        assert not runtime & names(extras[extra]), (extra, runtime & names(extras[extra]))
    # No longer needed by anything (the devnet's HTTP/2 is grpcio's): never back as runtime.
    assert not runtime & {"h2", "hyperframe", "pgserver", "pytest"}
    makefile = (ROOT / "Makefile").read_text()
    run_extras = re.search(r"^RUN_EXTRAS := (.+)$", makefile, re.M)
    dev_extras = re.search(r"^DEV_EXTRAS := (.+)$", makefile, re.M)
    assert run_extras and dev_extras
    assert set(run_extras[1].split(",")) == {"devnet", "embedded"}  # no dev tools for make run
    assert set(dev_extras[1].split(",")) == {"dev", "devnet", "embedded"}
    assert re.search(r"^run:\n(\t.*\n)*.*\$\(RUN_STAMP\)", makefile, re.M)
    for target in ("test", "lint"):
        assert re.search(rf"^{target}: \$\(STAMP\)( |$)", makefile, re.M), target
