"""Every module of the project stays under 400 lines, generated ones included (the client's
models are cut into parts by scripts/gen_client_models.py), tests, benchmarks and scripts as well
as the service: a module that grows is split along its seams."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
# The Python trees of the repository (Makefile's PY_DIRS); node_modules holds npm's, not ours.
DIRS = ("src", "tests", "bench", "scripts", "examples")
LIMIT = 400


def test_no_module_reaches_400_lines() -> None:
    sizes = {
        p: len(p.read_text().splitlines())
        for d in DIRS
        for p in (ROOT / d).rglob("*.py")
        if "node_modules" not in p.parts
    }
    assert any(p.is_relative_to(ROOT / "src") for p in sizes)
    assert {str(p.relative_to(ROOT)): n for p, n in sizes.items() if n >= LIMIT} == {}
