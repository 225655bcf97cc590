"""The layer contract of pyproject.toml ([tool.importlinter]) holds: domain imports only domain;
service no store, chain or api; api no store; chain and store no api. `make lint` runs the same
check (`lint-imports`); this keeps `make test` honest too."""

from __future__ import annotations

from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[3]


def test_the_layer_contract_holds() -> None:
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0
