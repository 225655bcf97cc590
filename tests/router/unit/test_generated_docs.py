"""The references generated from the code are committed as the code generates them
(`make docs` regenerates them), and the generators see what they claim to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dydx_router.asgi import create_app
from dydx_router.config import Settings
from dydx_router.reference import errors, generators, settings

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("relative", sorted(generators()))
def test_committed_reference_is_fresh(relative: str) -> None:
    committed = (ROOT / relative).read_text()
    assert committed == generators()[relative](), f"{relative} is stale: run `make docs`"


def test_committed_openapi_is_what_the_app_serves() -> None:
    served = create_app(Settings(api_docs=True)).openapi()
    assert json.loads((ROOT / "openapi.json").read_text()) == served


def test_every_setting_is_documented_with_its_variable() -> None:
    text = (ROOT / "docs/configuration.md").read_text()
    example = (ROOT / ".env.example").read_text()
    for name, field in Settings.model_fields.items():
        assert field.description, f"Settings.{name} lacks a description"
        variable = settings.env_name(name, field)
        assert f"`{variable}`" in text
        assert f"{variable}=" in example


def test_env_example_loads_as_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every uncommented line of .env.example is a valid setting equal to its default."""
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    assert Settings() == Settings.model_construct(
        **{n: f.get_default(call_default_factory=True) for n, f in Settings.model_fields.items()}
    )


def test_a_missing_description_fails_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    field = Settings.model_fields["port"]
    monkeypatch.setattr(field, "description", None)
    with pytest.raises(ValueError, match=r"Settings\.port has no description"):
        settings.configuration_md()


def test_errors_found_in_the_code_include_every_kind_of_source() -> None:
    codes = errors.discover()
    assert codes["order_not_found"] == {404}  # an exception class, via STATUS_TABLE
    assert codes["risk_max_open_orders"] == {400}  # per-limit codes of RiskLimitBreached
    assert codes["invalid_cursor"] == {400}  # a literal ApiError(400, "invalid_cursor", ...)
    assert codes["unauthenticated"] == {401}
    assert codes["size_exceeds_position"] == {400}  # InvalidOrder(..., code="...")
    assert codes["database_unavailable"] == {503}  # the database handler
    assert codes["rate_limited"] == {429, 502}  # the API key's rate and the chain's


def test_a_code_without_a_catalogue_entry_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    from dydx_router.reference import error_catalog

    catalog = dict(error_catalog.CATALOG)
    del catalog["order_not_found"]
    monkeypatch.setattr(errors, "CATALOG", catalog)
    with pytest.raises(ValueError, match="order_not_found"):
        errors.errors_md()
