"""The observability middleware on a small app: request ids, route-template metrics,
Server-Timing, access lines, and spans when tracing is on (in-memory exporter)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from dydx_router.api.middleware import ObservabilityMiddleware
from dydx_router.observability import metrics, tracing
from dydx_router.observability.logs import add_trace_ids

seen: dict[str, Any] = {}


def make_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(ObservabilityMiddleware)

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        seen["context"] = structlog.contextvars.get_contextvars()
        with tracing.span("service.work", thing=thing_id):
            seen["ids"] = tracing.current_ids()
            metrics.observe_broadcast("test", 0.002)  # as the gateway does around CheckTx
            await asyncio.sleep(0)
        return {"id": thing_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unexpected")

    return app


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(), raise_app_exceptions=False),
        base_url="http://test",
    )


def count(route: str, status: str, method: str = "GET") -> float:
    value = REGISTRY.get_sample_value(
        "dydx_router_http_requests_total", {"method": method, "route": route, "status": status}
    )
    return value or 0.0


async def test_request_id_is_taken_or_made_and_bound_to_the_request() -> None:
    async with client() as c:
        given = await c.get("/things/a1", headers={"X-Request-ID": "caller-id.1"})
        made = await c.get("/things/a2")
        unsafe = await c.get("/things/a3", headers={"X-Request-ID": "bad id"})
    assert given.headers["x-request-id"] == "caller-id.1"
    assert len(made.headers["x-request-id"]) == 32
    assert unsafe.headers["x-request-id"] != "bad id"
    assert seen["context"] == {"request_id": unsafe.headers["x-request-id"]}


async def test_metrics_use_the_route_template_never_the_path() -> None:
    before = count("/things/{thing_id}", "200")
    missing = count("<unmatched>", "404")
    async with client() as c:
        for i in range(3):
            assert (await c.get(f"/things/order-{i}")).status_code == 200
        assert (await c.get("/nowhere/123")).status_code == 404
    assert count("/things/{thing_id}", "200") == before + 3
    assert count("<unmatched>", "404") == missing + 1
    assert (
        REGISTRY.get_sample_value(
            "dydx_router_http_requests_total",
            {"method": "GET", "route": "/things/order-1", "status": "200"},
        )
        is None
    )


async def test_server_timing_reports_the_chain_time() -> None:
    async with client() as c:
        resp = await c.get("/things/x")
    timing = resp.headers["server-timing"]
    chain, total = (float(p.split("dur=")[1]) for p in timing.split(","))
    assert chain == pytest.approx(2.0) and total >= 0


async def test_access_line_per_request_and_failures_counted_as_500() -> None:
    before = count("/boom", "500")
    with capture_logs() as logs:
        async with client() as c:
            await c.get("/things/z")
            await c.get("/boom")
    done = [e for e in logs if e["event"] == "request_completed"]
    assert done and done[0]["route"] == "/things/{thing_id}" and done[0]["status"] == 200
    failed = [e for e in logs if e["event"] == "request_failed"]
    assert failed and failed[0]["error_type"] == "RuntimeError"
    assert count("/boom", "500") == before + 1


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure(None, exporter=exporter)
    try:
        yield exporter
    finally:
        tracing.shutdown()


async def test_spans_nest_and_continue_the_callers_trace(spans: InMemorySpanExporter) -> None:
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    async with client() as c:
        await c.get("/things/t", headers={"traceparent": f"00-{trace_id}-b7ad6b7169203331-01"})
    finished = {s.name: s for s in spans.get_finished_spans()}
    server, work = finished["GET /things/t"], finished["service.work"]
    assert format(server.context.trace_id, "032x") == trace_id
    assert work.parent is not None and work.parent.span_id == server.context.span_id
    assert server.attributes is not None and server.attributes["http.route"] == "/things/{thing_id}"
    assert seen["ids"] == (trace_id, format(work.context.span_id, "016x"))
    # Log lines inside a span carry its ids; outside one, nothing is added.
    assert add_trace_ids(None, "info", {"event": "x"}) == {"event": "x"}


def test_tracing_off_costs_one_shared_no_op() -> None:
    assert not tracing.enabled()
    assert tracing.span("a", x=1) is tracing.span("b") is tracing.NO_SPAN
    assert tracing.server_span("GET", "/", []) is tracing.NO_SPAN
    assert tracing.current_ids() is None
