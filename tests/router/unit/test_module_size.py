"""Every module of the project stays under 400 lines, generated ones included (the client's
models are cut into parts by scripts/gen_client_models.py): a module that grows is split
along its seams."""

from __future__ import annotations

from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src"
LIMIT = 400


def test_no_module_reaches_400_lines() -> None:
    sizes = {p: len(p.read_text().splitlines()) for p in SRC.rglob("*.py")}
    assert sizes
    assert {str(p.relative_to(SRC)): n for p, n in sizes.items() if n >= LIMIT} == {}
