"""Write the references generated from the code (docs/configuration.md, .env.example,
docs/errors.md, docs/schema.md, openapi.json): `make docs`. With --check, write nothing and
exit 1 naming every file that differs from what the code generates."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dydx_router.reference import generators

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare only, write nothing")
    args = parser.parse_args()
    stale = []
    for relative, render in generators().items():
        path = ROOT / relative
        text = render()
        if path.exists() and path.read_text() == text:
            continue
        stale.append(relative)
        if not args.check:
            path.write_text(text)
            print(f"wrote {relative}")
    if args.check and stale:
        print("out of date (run `make docs`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
