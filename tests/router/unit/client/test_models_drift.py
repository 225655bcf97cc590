"""One source of truth: the client's models are generated from the server's OpenAPI, and the
client installs alone (httpx + pydantic, no server code)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]


def test_committed_openapi_and_generated_models_match_the_server() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DYDX_ROUTER_", "DATABASE_"))}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_client_models.py"), "--check"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_client_distribution_holds_only_the_client_and_needs_only_httpx_and_pydantic(
    tmp_path: Path,
) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "-o", str(tmp_path),
         str(ROOT / "clients" / "python")],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("dydx_router_client-*.whl")
    with zipfile.ZipFile(wheel) as z:
        packages = {n.split("/")[0] for n in z.namelist()}
        metadata = z.read(next(n for n in z.namelist() if n.endswith("METADATA"))).decode()
    assert packages == {"dydx_router_client", "dydx_router_client-0.1.0.dist-info"}
    requires = sorted(
        line.split(":", 1)[1].strip().split("<")[0].split(">")[0]
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    )
    assert requires == ["httpx", "pydantic"]
    # Imported from the wheel alone, with the server's packages made unimportable.
    probe = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'dydx_router', 'dydx_devnet', 'fastapi', 'sqlalchemy',"
        " 'asyncpg', 'mcp'}:\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"sys.path.insert(0, {str(wheel)!r})\n"
        "import dydx_router_client as c\n"
        "assert c.__file__.startswith(" + repr(str(wheel)) + "), c.__file__\n"
        "print(len(c.errors.ERRORS))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) > 40
