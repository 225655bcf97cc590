"""The console's committed bundle (src/dydx_router/api/console_static) is built from the committed
sources (console/): `make console` after any change there. And the bundle is self-contained: the
page loads nothing from another origin (it must work offline and behind a firewall)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[4]
STATIC = ROOT / "src" / "dydx_router" / "api" / "console_static"


def _build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_console", ROOT / "scripts" / "build_console.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_bundle_is_built_from_the_committed_sources() -> None:
    script = _build_script()
    assert script.stored_hash() == script.source_hash(), (
        "console/ changed since the bundle was built: run `make console` and commit the bundle"
    )


def test_the_page_references_only_its_own_assets() -> None:
    html = (STATIC / "index.html").read_text()
    refs = [r for r in re.findall(r'(?:src|href)="([^"]+)"', html) if not r.startswith("#")]
    assert len(refs) >= 2, html  # the script and the style sheet
    for ref in refs:
        assert ref.startswith("/console/assets/"), ref
        assert (STATIC / ref.removeprefix("/console/")).is_file(), ref
    for asset in (STATIC / "assets").iterdir():
        text = asset.read_text()
        # No import or fetch of another origin (a URL inside a comment or a string literal of
        # the charting library would not load anything, but none is there either).
        assert not re.search(r"""(?:import|fetch)\(?\s*["']https?://""", text), asset.name
        assert "localStorage" not in text, asset.name
