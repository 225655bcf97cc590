"""docs/errors.md from the code: every stable ``code`` the API can answer, with its HTTP status.

Codes are found where they are assigned, never listed by hand: the ``code`` of every exception
class the error handlers render (statuses from ``api.errors.STATUS_TABLE``), the per-limit codes
of ``RiskLimitBreached`` (``risk_<limit>``), literal ``ApiError(status, code, ...)`` calls and
``code=`` arguments in the source, and the handlers' own codes. Meaning and what to do come from
``error_catalog.CATALOG``; a code without an entry there (or an entry without a code) fails.
"""

from __future__ import annotations

import ast
import dataclasses
from collections import defaultdict
from pathlib import Path

import dydx_router
from dydx_router.api import errors as api_errors
from dydx_router.chain.errors import ChainError
from dydx_router.domain.errors import DomainError, RiskLimitBreached
from dydx_router.domain.risk import RiskLimits
from dydx_router.reference.error_catalog import CATALOG
from dydx_router.store.database import DB_CONNECTION_ERRORS

SOURCE = Path(dydx_router.__file__).parent
# Codes the handlers in api/errors.py (and the body-limit middleware) write themselves.
HANDLER_CODES = {
    "invalid_request": 422,
    "nesting_too_deep": 422,
    "invalid_encoding": 422,
    "number_out_of_range": 422,
    "not_found": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "http_error": 400,
    "internal_error": 500,
}
_HANDLER_SOURCES = ("api/errors.py", "api/body_limit.py")


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def class_status(cls: type) -> int:
    for table_cls, status in api_errors.STATUS_TABLE:
        if issubclass(cls, table_cls):
            return status
    if issubclass(cls, DB_CONNECTION_ERRORS):
        return 503  # the database_down handler
    return 500


def _exception_classes() -> dict[str, type]:
    import dydx_router.asgi  # noqa: F401  (imports every route and adapter, so every error class)

    classes = _subclasses(DomainError) | _subclasses(ChainError) | {DomainError, ChainError}
    classes |= {cls for cls, _ in api_errors.STATUS_TABLE}
    for base in DB_CONNECTION_ERRORS:  # ours among them: DatabaseUnavailable
        classes |= {c for c in _subclasses(base) if c.__module__.startswith("dydx_router.")}
    return {cls.__name__: cls for cls in classes if isinstance(cls.__dict__.get("code"), str)}


def _literal_codes(classes: dict[str, type]) -> dict[str, set[int]]:
    """``ApiError(401, "code", ...)``, ``_unauthenticated("code", ...)``, ``Cls(..., code="x")``."""
    found: dict[str, set[int]] = defaultdict(set)
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            consts = [a.value for a in node.args if isinstance(a, ast.Constant)]
            if name == "ApiError" and len(consts) >= 2 and isinstance(consts[0], int):
                found[str(consts[1])].add(consts[0])
            elif name == "_unauthenticated" and consts and isinstance(consts[0], str):
                found[consts[0]].add(401)
            elif name in classes:
                for kw in node.keywords:
                    if kw.arg == "code" and isinstance(kw.value, ast.Constant):
                        found[str(kw.value.value)].add(class_status(classes[name]))
    return found


def discover() -> dict[str, set[int]]:
    """Every code the API can answer -> the HTTP statuses it comes with."""
    classes = _exception_classes()
    codes: dict[str, set[int]] = defaultdict(set)
    for cls in classes.values():
        codes[cls.__dict__["code"]].add(class_status(cls))
    for limit in dataclasses.fields(RiskLimits):
        codes[f"risk_{limit.name}"].add(class_status(RiskLimitBreached))
    for code, statuses in _literal_codes(classes).items():
        codes[code] |= statuses
    handler_text = "".join((SOURCE / p).read_text() for p in _HANDLER_SOURCES)
    for code, status in HANDLER_CODES.items():
        if f'"{code}"' not in handler_text:
            raise ValueError(f"handler code {code!r} no longer appears in {_HANDLER_SOURCES}")
        codes[code].add(status)
    return dict(codes)


def errors_md() -> str:
    codes = discover()
    missing = sorted(set(codes) - set(CATALOG))
    stale = sorted(set(CATALOG) - set(codes))
    if missing or stale:
        raise ValueError(
            f"reference/error_catalog.py: codes without an entry {missing}, entries without a "
            f"code {stale}"
        )
    lines = [
        "# Error reference",
        "",
        "<!-- Generated from the code by scripts/gen_docs.py (`make docs`): codes from the",
        "     exception classes, api/errors.py's STATUS_TABLE and the ApiError calls; meanings",
        "     from src/dydx_router/reference/error_catalog.py.",
        "     tests/router/unit/test_generated_docs.py fails when it drifts.",
        "     Do not edit by hand. -->",
        "",
        "Every error is RFC 9457 problem details (`Content-Type: application/problem+json`):",
        "",
        "```json",
        '{"type": "tag:dydx-router,2026:error:order_not_found", "title": "Not Found",',
        ' "status": 404, "detail": "order ... not found", "code": "order_not_found",',
        ' "error": {"code": "order_not_found", "message": "order ... not found",',
        '           "details": {"order_id": "..."}}}',
        "```",
        "",
        "`code` (and `error.code`) is one of the stable codes below; `detail` (and",
        "`error.message`) is for people and may change; `error.details` holds structured data",
        "when there is any. 503 and 504 carry `Retry-After`; so do the 429s. Symptoms and",
        "fixes: [troubleshooting.md](troubleshooting.md).",
        "",
        "| Code | HTTP | Meaning | What to do |",
        "|---|---|---|---|",
    ]
    for code in sorted(codes, key=lambda c: (min(codes[c]), c)):
        entry = CATALOG[code]
        status = ", ".join(str(s) for s in sorted(codes[code]))
        if code == "http_error":
            status = "4xx"
        lines.append(f"| `{code}` | {status} | {entry.meaning} | {entry.action} |")
    return "\n".join(lines) + "\n"
