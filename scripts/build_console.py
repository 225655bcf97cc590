"""Build the operator console (``console/``, TypeScript + Vite) into the package
(``src/dydx_router/api/console_static``), where the router serves it at ``/console``.

The bundle is committed, so that running the router needs no Node. ``SOURCE_HASH`` beside it
is the sha256 of the sources it was built from; ``--check`` (and
``tests/router/unit/api/test_console_bundle.py``) fails when the sources changed and the bundle was
not rebuilt: run ``make console``.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "console"
OUT = ROOT / "src" / "dydx_router" / "api" / "console_static"
HASH_FILE = OUT / "SOURCE_HASH"
TOP_FILES = ("index.html", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts")


def source_files() -> list[Path]:
    files = [SOURCE / name for name in TOP_FILES]
    files += sorted(p for p in (SOURCE / "src").rglob("*") if p.is_file())
    return files


def source_hash() -> str:
    digest = hashlib.sha256()
    for path in source_files():
        digest.update(path.relative_to(SOURCE).as_posix().encode() + b"\0")
        # Line endings normalised: a checkout with CRLF builds the same bundle.
        digest.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def stored_hash() -> str | None:
    return HASH_FILE.read_text().strip() if HASH_FILE.is_file() else None


def build() -> None:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is not installed: the console needs Node 20+ and npm to build")
    if not (SOURCE / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=SOURCE, check=True)
    subprocess.run([npm, "run", "build"], cwd=SOURCE, check=True)
    HASH_FILE.write_text(source_hash() + "\n")
    print(f"console built into {OUT.relative_to(ROOT)}")


def main() -> None:
    if "--check" in sys.argv[1:]:
        if stored_hash() != source_hash():
            sys.exit("the console bundle is stale (console/ changed): run `make console`")
        print("console bundle up to date")
        return
    build()


if __name__ == "__main__":
    main()
