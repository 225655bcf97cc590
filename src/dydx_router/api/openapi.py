"""The OpenAPI document, made true to the wire for errors.

FastAPI documents its own validation error (``{"detail": [...]}``) as every route's 422, but the
service answers every error as RFC 9457 problem details (``application/problem+json``) holding
``{"error": {"code", "message", "details"?}}`` (``api/errors.py``, ``api/problem.py``).
Here each operation's 4xx/5xx responses, and a ``default`` response for the statuses any route
may answer (401, 403, 429, 503, ...), point at that one ``ErrorBody`` schema; a documented 2xx
without a body schema takes the operation's success schema. Clients and schemathesis's
``response_schema_conformance`` then check real responses against a true description.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from dydx_router.api.problem import MEDIA_TYPE

_ERROR = {
    "type": "object",
    "required": ["code", "message"],
    "additionalProperties": False,
    "properties": {
        "code": {"type": "string", "description": "Stable, machine-readable (docs/errors.md)."},
        "message": {"type": "string"},
        "details": {"type": "object"},
    },
}
# RFC 9457 problem details plus our stable code, and the error object clients read today.
ERROR_BODY = {
    "title": "ErrorBody",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code", "error"],
    "additionalProperties": False,
    "properties": {
        "type": {"type": "string", "description": "tag:dydx-router,2026:error:<code>"},
        "title": {"type": "string", "description": "The HTTP status's phrase."},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "Stable, machine-readable (docs/errors.md)."},
        "error": _ERROR,
    },
}
_ERROR_CONTENT = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
_FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")


def _patch(spec: dict[str, Any]) -> dict[str, Any]:
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_ERRORS:
        schemas.pop(name, None)
    schemas["ErrorBody"] = ERROR_BODY
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            success = next(
                (r["content"] for s, r in sorted(responses.items()) if "content" in r and s < "3"),
                None,
            )
            for status, response in responses.items():
                if status >= "4":
                    response["content"] = _ERROR_CONTENT
                    if status == "422":
                        response["description"] = "Malformed request (`invalid_request`, ...)"
                elif "content" not in response and success is not None and status != "204":
                    response["content"] = success
            responses.setdefault(
                "default",
                {
                    "description": "An error: 401, 403, 404, 409, 429, 503, ...",
                    "content": _ERROR_CONTENT,
                },
            )
    return spec


def install_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _patch(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
