"""The service as a process: probes, OpenAPI docs and the error shape, over real HTTP."""

from __future__ import annotations

import http.client
import time

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


def test_an_idle_connection_outlives_the_clients_keep_alive(router: RouterProcess) -> None:
    # httpx keeps an idle connection 5 s and then reuses it. A server that closes idle
    # connections at 5 s too (uvicorn's default) races it: the client sends on a connection the
    # server is closing, and gets "Server disconnected without sending a response" (seen in a
    # replica test's GET). The server keeps them longer (DYDX_ROUTER_KEEP_ALIVE_S, 30 s).
    host, port = router.url.removeprefix("http://").split(":")
    # http.client reads each response whole (by its Content-Length), so the second request's
    # answer is not the first one's body arriving in a later TCP segment.
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", "/health")
        first = conn.getresponse()
        assert first.status == 200 and first.read() == b'{"status":"ok"}'
        sock = conn.sock
        time.sleep(5.5)  # past httpx's keepalive_expiry (and uvicorn's default 5 s)
        # On a closed connection this raises RemoteDisconnected: http.client reconnects only
        # when it has no socket, and it still holds this one.
        conn.request("GET", "/health")
        second = conn.getresponse()
        assert conn.sock is sock, "the request went on a new connection"
        assert second.status == 200 and second.read() == b'{"status":"ok"}'
    finally:
        conn.close()
