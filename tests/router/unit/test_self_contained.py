"""The repository is self-contained: no file in it reads or points at the team's notes outside it.

A reader of the repository cannot follow a citation of a file that is not in it, so comments cite
the upstream source of a rule instead (a dydxprotocol/v4-chain or cosmos-sdk path, the official
client, a GitHub thread). The needles are built by concatenation so this file does not match itself.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
# Spelled in pieces so that this file does not match its own search (nor a repository-wide one).
OUTSIDE = "sha" + "red"
FORBIDDEN = ("PROTOCOL" + ".md", "../" + OUTSIDE, "/work/" + OUTSIDE)
# Not part of the project: local environments, caches and build output (ignored by git anyway).
SKIPPED_DIRS = {".git", ".venv", ".venv-official", "node_modules", "__pycache__", ".mypy_cache"}


def project_files(root: Path) -> list[Path]:
    """Tracked files, and new ones not yet committed (a fresh offender is caught before commit)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=root,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        # Not a git checkout (e.g. an unpacked archive): walk the tree instead.
        return [
            p
            for p in root.rglob("*")
            if p.is_file() and not SKIPPED_DIRS.intersection(p.relative_to(root).parts)
        ]
    return [root / name for name in out.decode().split("\0") if name and (root / name).is_file()]


def offences(root: Path) -> list[str]:
    """``path:line: needle`` for every mention of a forbidden reference under ``root``."""
    found = []
    for path in project_files(root):
        data = path.read_bytes()
        if not any(n.encode() in data for n in FORBIDDEN):
            continue
        for lineno, line in enumerate(data.splitlines(), 1):
            for needle in FORBIDDEN:
                if needle.encode() in line:
                    found.append(f"{path.relative_to(root)}:{lineno}: {needle}")
    return found


def test_no_file_mentions_the_notes_outside_the_repository() -> None:
    found = offences(ROOT)
    assert not found, "cite the upstream source instead:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "text",
    [
        "# limits (" + "PROTOCOL" + ".md §2d)\n",
        'SPEC = Path("../' + 'shared/dydx/indexer-swagger.json")\n',
        "see /work/" + "shared/STYLE.md\n",
    ],
)
def test_an_offending_file_is_reported(tmp_path: Path, text: str) -> None:
    (tmp_path / "ok.py").write_text("# protocol/x/clob/types/constants.go ShortBlockWindow\n")
    (tmp_path / "bad.py").write_text("x = 1\n" + text)
    assert [f.split(":")[:2] for f in offences(tmp_path)] == [["bad.py", "2"]]
