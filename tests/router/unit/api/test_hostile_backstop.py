"""The backstop behind the input bounds (api/errors.py): an ``ArithmeticError`` or a
``RecursionError`` raised anywhere in a handler, by an input no bound foresaw, is answered 422 with
a stable code, never a 500 or a dropped connection."""

from __future__ import annotations

import decimal
from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI

from dydx_router.api.errors import install_error_handlers


def _overflow() -> object:
    with decimal.localcontext() as ctx:
        ctx.traps[decimal.Overflow] = True
        return Decimal("1e999999") * Decimal("1e999999")


def _invalid() -> object:
    return Decimal("1").quantize(Decimal("1e-999"))  # more digits than the context holds


def _divide() -> object:
    return Decimal(1) / Decimal(0)


def _recurse(n: int = 0) -> object:
    return _recurse(n + 1)


@pytest.mark.parametrize(
    ("raise_it", "code"),
    [
        (_overflow, "number_out_of_range"),
        (_invalid, "number_out_of_range"),
        (_divide, "number_out_of_range"),
        (_recurse, "nesting_too_deep"),
    ],
)
async def test_arithmetic_and_recursion_errors_are_a_422_with_a_stable_code(
    raise_it: Callable[[], object], code: str
) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/compute")
    async def compute() -> object:
        return {"value": str(raise_it())}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        resp = await c.post("/compute")
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == code
