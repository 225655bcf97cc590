"""What the place-order fast path leaves to FastAPI, and that FastAPI then gets the request
exactly as it was sent (the body replayed). What it serves itself is covered end to end
(tests/router/e2e: placement, auth errors, rate limits, risk refusals all go through it)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from dydx_router.api.errors import install_error_handlers
from dydx_router.api.fastpath import PlaceOrderFastPath

GOOD = {"market": "BTC-USD", "side": "BUY", "type": "LIMIT", "size": "0.001", "price": "50000"}


class Downstream:
    """The rest of the application: records what reached it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.calls.append((scope["method"], scope["path"], body))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"downstream"})


@pytest.fixture
def downstream() -> Downstream:
    return Downstream()


def client(downstream: Downstream) -> httpx.AsyncClient:
    api = FastAPI()
    install_error_handlers(api)
    app = PlaceOrderFastPath(downstream, api=api)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.parametrize(
    ("method", "path", "params", "headers", "body"),
    [
        ("GET", "/v1/orders", {}, {}, b""),  # another method
        ("POST", "/v1/orders/cancel", {}, {}, json.dumps({"all": True}).encode()),  # another path
        ("POST", "/v1/orders", {"dry_run": "true"}, {}, json.dumps(GOOD).encode()),  # a query
        ("POST", "/v1/orders", {}, {"content-type": "text/plain"}, json.dumps(GOOD).encode()),
        ("POST", "/v1/orders", {}, {"idempotency-key": "has space"}, json.dumps(GOOD).encode()),
        ("POST", "/v1/orders", {}, {"idempotency-key": "k" * 129}, json.dumps(GOOD).encode()),
        ("POST", "/v1/orders", {}, {}, b'{"market": "BTC-USD", '),  # not JSON
        ("POST", "/v1/orders", {}, {}, json.dumps(GOOD | {"size": 0.001}).encode()),  # a float
        ("POST", "/v1/orders", {}, {}, json.dumps(GOOD | {"leverage": 10}).encode()),  # extra
        ("POST", "/v1/orders", {}, {}, b"\xff\xfe"),  # not UTF-8
        ("POST", "/v1/orders", {}, {}, b""),  # no body
    ],
)
async def test_what_it_cannot_bind_goes_to_fastapi_unchanged(
    downstream: Downstream,
    method: str,
    path: str,
    params: dict[str, str],
    headers: dict[str, str],
    body: bytes,
) -> None:
    sent_headers: dict[str, Any] = {"content-type": "application/json", **headers}
    async with client(downstream) as c:
        r = await c.request(method, path, params=params, headers=sent_headers, content=body)
    assert (r.status_code, r.text) == (299, "downstream")
    assert downstream.calls == [(method, path, body)]


async def test_what_it_binds_it_serves_and_its_errors_take_the_app_handlers(
    downstream: Downstream,
) -> None:
    """A bindable request without a key: the fast path answers it, in the error model."""
    async with client(downstream) as c:
        r = await c.post(
            "/v1/orders",
            content=json.dumps(GOOD),
            headers={"content-type": "application/json; charset=utf-8"},
        )
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthenticated"
    assert r.headers["www-authenticate"] == "Bearer"
    assert downstream.calls == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nesting_too_deep"),
        (b'{"a": ' * 30_000 + b"1" + b"}" * 30_000, "nesting_too_deep"),
        (b"\xff\xfe", "invalid_request"),  # read as UTF-16 (its BOM), then not JSON
        (b'{"market": "BTC-\xff"}', "invalid_encoding"),
        # json.loads' ValueError past 4,300 digits (sys.get_int_max_str_digits), no key sent.
        (b'{"subaccount": ' + b"9" * 4_301 + b"}", "number_out_of_range"),
        (b'{"size": -' + b"1" * 10_000 + b"}", "number_out_of_range"),
    ],
)
async def test_unreadable_bodies_are_a_422_with_a_stable_code_not_an_error(
    body: bytes, code: str
) -> None:
    # Through FastAPI's own body reading, as the fast path hands them over.
    from dydx_router.api import orders

    api = FastAPI()
    install_error_handlers(api)
    api.include_router(orders.router)
    app = PlaceOrderFastPath(api, api=api)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.post("/v1/orders", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
