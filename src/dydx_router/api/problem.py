"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error body carries the RFC's members — ``type`` (a tag URI naming the stable code; tag URIs
are what RFC 9457 §3.1.1 suggests for types that are not meant to be dereferenced), ``title``
(the status's phrase), ``status``, ``detail`` (the message) — plus our stable ``code``, and keeps
the ``error`` object (``code``, ``message``, ``details``) every client reads today.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "tag:dydx-router,2026:error:"


def problem(status: int, error: dict[str, Any]) -> dict[str, Any]:
    """The problem details of ``{"code", "message", "details"?}`` answered with ``status``."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return {
        "type": TYPE_PREFIX + str(error["code"]),
        "title": title,
        "status": status,
        "detail": error["message"],
        "code": error["code"],
        "error": error,
    }


class ProblemResponse(JSONResponse):
    """A JSONResponse of ``{"error": {...}}`` rendered as problem details for its status."""

    media_type = MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return super().render(problem(self.status_code, content["error"]))
