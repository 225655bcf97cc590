"""The service as a process: probes, OpenAPI docs and the error shape, over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.router import RouterProcess

pytestmark = pytest.mark.e2e


def test_probes_docs_and_error_shape(router: RouterProcess) -> None:
    url = router.url
    assert httpx.get(url + "/health").json() == {"status": "ok"}
    ready = httpx.get(url + "/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"] == "ok"
    docs = httpx.get(url + "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = httpx.get(url + "/openapi.json").json()
    assert {"/health", "/ready", "/v1/orders", "/v1/positions", "/v1/markets"} <= set(spec["paths"])
    missing = httpx.get(url + "/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["error"] == {"code": "not_found", "message": "Not Found"}
    assert missing.json()["code"] == "not_found" and missing.json()["status"] == 404
