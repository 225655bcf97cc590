"""References generated from the code: docs/configuration.md and .env.example (settings),
docs/errors.md (the error table), docs/schema.md (the table definitions) and openapi.json (what
the app serves). ``scripts/gen_docs.py`` (``make docs``) writes them; the freshness tests
(tests/router/unit/test_generated_docs.py) regenerate them in memory and compare."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def openapi_document() -> str:
    """The OpenAPI document the app serves at /openapi.json, as committed JSON."""
    from dydx_router.asgi import create_app
    from dydx_router.config import Settings

    spec: dict[str, Any] = create_app(Settings(api_docs=True)).openapi()
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generators() -> dict[str, Callable[[], str]]:
    """Repository path -> the function that renders it."""
    from dydx_router.reference import errors, schema, settings

    return {
        "docs/configuration.md": settings.configuration_md,
        ".env.example": settings.env_example,
        "docs/errors.md": errors.errors_md,
        "docs/schema.md": schema.schema_md,
        "openapi.json": openapi_document,
    }
