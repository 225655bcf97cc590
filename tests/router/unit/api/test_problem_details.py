"""Errors on the wire are RFC 9457 problem details that keep the fields clients read today."""

from __future__ import annotations

import httpx
import jsonschema
from fastapi import FastAPI

from dydx_router.api.body_limit import BodySizeLimit
from dydx_router.api.errors import ApiError, install_error_handlers
from dydx_router.api.openapi import ERROR_BODY, install_openapi
from dydx_router.domain.errors import OrderNotFound


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(BodySizeLimit, max_bytes=1024)

    @app.get("/missing")
    async def missing() -> None:
        raise OrderNotFound("order x not found", order_id="x")

    @app.get("/limited")
    async def limited() -> None:
        raise ApiError(429, "rate_limited", "slow down", headers={"Retry-After": "1"})

    @app.post("/echo")
    async def echo(body: dict[str, int]) -> dict[str, int]:
        return body

    return app


async def _call(method: str, path: str, **kwargs: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


async def test_a_domain_error_is_problem_details_with_the_error_object() -> None:
    r = await _call("GET", "/missing")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body == {
        "type": "tag:dydx-router,2026:error:order_not_found",
        "title": "Not Found",
        "status": 404,
        "detail": "order x not found",
        "code": "order_not_found",
        "error": {
            "code": "order_not_found",
            "message": "order x not found",
            "details": {"order_id": "x"},
        },
    }
    jsonschema.validate(body, ERROR_BODY)


async def test_transport_validation_and_body_limit_errors_share_the_shape() -> None:
    answers = [
        await _call("GET", "/limited"),
        await _call("POST", "/echo", json={"a": "not a number"}),
        await _call("POST", "/echo", content=b"{" + b" " * 2000 + b"}"),
        await _call("GET", "/nowhere"),
    ]
    assert [r.status_code for r in answers] == [429, 422, 413, 404]
    for r in answers:
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        jsonschema.validate(body, ERROR_BODY)
        assert body["status"] == r.status_code and body["code"] == body["error"]["code"]
        assert body["detail"] == body["error"]["message"]
    assert answers[0].headers["retry-after"] == "1"
    assert [r.json()["code"] for r in answers] == [
        "rate_limited",
        "invalid_request",
        "payload_too_large",
        "not_found",
    ]
