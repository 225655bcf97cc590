"""Observability end to end: /metrics after real orders, request ids and trace ids in the logs and
in the spans a collector receives, and /ready following the chain's faults.

The router here runs against a devnet of its own (the faults would disturb other tests) and exports
traces to an OTLP collector started by the test.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from decimal import Decimal
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.db import fresh_database
from tests.fixtures.devnet import DevnetProcess, start_devnet, stop_devnet
from tests.fixtures.router import RouterProcess, start_router, stop_router

pytestmark = pytest.mark.e2e

MAX_BLOCK_AGE_S = 1.5
MAX_INDEXER_LAG = 10


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace collector that keeps every span it receives."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self._lock = threading.Lock()

    def Export(self, request: Any, context: Any) -> Any:
        with self._lock:
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    self.spans.extend(scope.spans)
        return trace_service_pb2.ExportTraceServiceResponse()

    def snapshot(self) -> list[Any]:
        with self._lock:
            return list(self.spans)


@pytest.fixture(scope="module")
def collector() -> Iterator[tuple[Collector, int]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = Collector()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")  # the port gRPC bound, not one picked before
    server.start()
    try:
        yield servicer, port
    finally:
        server.stop(grace=None)


@pytest.fixture(scope="module")
def own_devnet() -> Iterator[DevnetProcess]:
    d = start_devnet("observability", ["--block-time", "0.2", "--seed", "3"])
    try:
        yield d
    finally:
        stop_devnet(d.process)


@pytest.fixture(scope="module")
def observed(
    own_devnet: DevnetProcess, pg_server_url: str, collector: tuple[Collector, int]
) -> Iterator[RouterProcess]:
    _, port = collector
    env = {
        "DYDX_ROUTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "DYDX_ROUTER_READY_MAX_BLOCK_AGE_S": str(MAX_BLOCK_AGE_S),
        "DYDX_ROUTER_READY_MAX_INDEXER_LAG_BLOCKS": str(MAX_INDEXER_LAG),
        # The test watches the account sequence's resync counter move.
        "DYDX_ROUTER_SEQUENCE_MODE": "account_sequence",
    }
    with fresh_database(pg_server_url, "obs") as url:
        r = start_router(own_devnet, url, "obs", env)
        try:
            yield r
        finally:
            stop_router(r)


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics (fetched without an API key) by (name, sorted labels)."""
    resp = httpx.get(url + "/metrics", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def far_limit(c: httpx.Client, market: str) -> dict[str, Any]:
    """A short-term buy far below the market: accepted by CheckTx, rests, never fills."""
    markets = c.get("/v1/markets").json()["markets"]
    oracle = Decimal(next(m for m in markets if m["market"] == market)["oracle_price"])
    return {
        "market": market,
        "side": "BUY",
        "type": "LIMIT",
        "size": "0.01",
        "price": str((oracle / 2).quantize(Decimal("1"))),
        "good_til_blocks": 20,
    }


def test_metrics_series_move_after_orders(observed: RouterProcess) -> None:
    before = scrape(observed.url)
    with observed.client() as c:
        body = far_limit(c, "ETH-USD")
        placed = [c.post("/v1/orders", json=body) for _ in range(3)]
        assert [r.status_code for r in placed] == [201, 201, 201], placed[0].text
        # A rejected order: post-only through the book (clob codespace, not code 0).
        cross = {**body, "price": str(Decimal(body["price"]) * 4), "post_only": True}
        rejected = c.post("/v1/orders", json=cross)
        assert rejected.status_code == 201 and rejected.json()["status"] == "REJECTED"
        assert c.get("/v1/orders/" + placed[0].json()["id"]).status_code == 200
        # A stateful order: signed with the account sequence, read from the node first.
        stateful = {k: v for k, v in body.items() if k != "good_til_blocks"}
        resp = c.post("/v1/orders", json={**stateful, "good_til_seconds": 600})
        assert resp.status_code == 201 and resp.json()["status"] == "SUBMITTED", resp.text
    after = scrape(observed.url)

    def moved(name: str, by: float = 1, **labels: str) -> None:
        delta = value(after, name, **labels) - value(before, name, **labels)
        assert delta >= by, f"{name}{labels} moved by {delta}"

    post = {"method": "POST", "route": "/v1/orders", "status": "201"}
    moved("dydx_router_http_requests_total", 5, **post)
    moved("dydx_router_http_request_duration_seconds_count", 5, **post)
    get = {"method": "GET", "route": "/v1/orders/{order_id}", "status": "200"}
    moved("dydx_router_http_requests_total", 1, **get)
    moved("dydx_router_orders_placed_total", 3, market="ETH-USD", type="LIMIT", outcome="submitted")
    moved("dydx_router_orders_placed_total", 1, market="ETH-USD", type="LIMIT", outcome="rejected")
    moved("dydx_router_broadcast_duration_seconds_count", 4, kind="short_term")
    moved("dydx_router_checktx_results_total", 3, codespace="", code="0")
    rejections = {
        k: v
        for k, v in after.items()
        if k[0] == "dydx_router_checktx_results_total" and dict(k[1])["codespace"] == "clob"
    }
    assert rejections, "the post-only rejection is counted by its clob code"
    moved("dydx_router_broadcast_duration_seconds_count", 1, kind="stateful")
    moved("dydx_router_sequence_resyncs_total", 1)
    # The status stream reports the resting orders: routine changes are counted, not logged.
    synced = "dydx_router_order_status_synced_total"
    wait_until(
        lambda: (
            value(scrape(observed.url), synced, status="OPEN")
            - value(before, synced, status="OPEN")
            >= 3
        ),
        10,
        "three orders reported resting",
    )
    assert value(after, "dydx_router_chain_height_blocks") > 0
    assert value(after, "dydx_router_indexer_height_blocks") > 0
    assert ("dydx_router_indexer_lag_blocks", ()) in after
    assert value(after, "dydx_router_db_pool_connections", state="max") >= 1
    assert ("dydx_router_indexer_ws_reconnects_total", ()) in after
    breakers = {
        dict(k[1])["upstream"]: v
        for k, v in after.items()
        if k[0] == "dydx_router_circuit_breaker_state"
    }
    assert breakers == {"node": 0, "indexer": 0}  # one endpoint each, closed
    wait_until(
        lambda: value(scrape(observed.url), "dydx_router_event_loop_lag_seconds_count") > 0,
        5,
        "an event-loop lag sample",
    )
    assert value(after, "dydx_router_ready") == 1
    # Labels stay bounded: no order id, tx hash or raw path in any label.
    ids = {r.json()["id"] for r in placed}
    for _, labels in after:
        for _, v in labels:
            assert v not in ids and not re.fullmatch(r"[0-9A-F]{64}", v)
            assert not re.search(r"/v1/orders/[0-9a-f-]{36}", v)


def test_request_id_and_trace_id_reach_logs_and_collector(
    observed: RouterProcess, collector: tuple[Collector, int]
) -> None:
    spans, _ = collector
    request_id = "obs-test-7f3a"
    with observed.client() as c:
        resp = c.post(
            "/v1/orders", json=far_limit(c, "BTC-USD"), headers={"X-Request-ID": request_id}
        )
        assert resp.status_code == 201, resp.text
        assert resp.headers["x-request-id"] == request_id
        timing = resp.headers["server-timing"]
        chain_ms, total_ms = (float(x) for x in re.findall(r"dur=([0-9.]+)", timing))
        assert 0 < chain_ms < total_ms
        order_id = resp.json()["id"]
        generated = c.get("/health").headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated)
        bad = c.get("/health", headers={"X-Request-ID": "has spaces; " + "x" * 200})
        assert re.fullmatch(r"[0-9a-f]{32}", bad.headers["x-request-id"])

    def lines() -> list[dict[str, Any]]:
        out = []
        for raw in observed.log_path.read_text(errors="replace").splitlines():
            if raw.startswith("{"):
                entry = json.loads(raw)
                if entry.get("request_id") == request_id:
                    out.append(entry)
        return out

    wait_until(lambda: any(e["event"] == "request_completed" for e in lines()), 10, "access log")
    mine = lines()
    # One INFO line per placement: the access line names the order and its outcome.
    access = next(e for e in mine if e["event"] == "request_completed")
    assert access["route"] == "/v1/orders" and access["status"] == 201
    assert access["order_id"] == order_id and access["market"] == "BTC-USD"
    assert access["order_status"] == "SUBMITTED"
    assert re.fullmatch(r"[0-9A-F]{64}", access["tx_hash"])
    trace_id = access["trace_id"]
    assert all(e["trace_id"] == trace_id for e in mine)

    def trace() -> dict[str, Any]:
        return {s.name: s for s in spans.snapshot() if s.trace_id.hex() == trace_id}

    wanted = {
        "POST /v1/orders",
        "orders.place",
        "db.insert_order",
        "chain.sign",
        "chain.broadcast",
        "db.record_outcome",
    }
    wait_until(lambda: wanted <= set(trace()), 15, f"spans {wanted}")
    by_name = trace()
    http, place = by_name["POST /v1/orders"], by_name["orders.place"]
    assert place.parent_span_id == http.span_id
    for child in ("db.insert_order", "chain.broadcast", "db.record_outcome"):
        assert by_name[child].parent_span_id == place.span_id, child
    route = {a.key: a.value.string_value for a in http.attributes}
    assert route["http.route"] == "/v1/orders"


def test_traceparent_from_the_caller_is_continued(
    observed: RouterProcess, collector: tuple[Collector, int]
) -> None:
    spans, _ = collector
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    resp = httpx.get(
        observed.url + "/health",
        headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
    )
    assert resp.status_code == 200
    wait_until(
        lambda: any(s.trace_id.hex() == trace_id for s in spans.snapshot()), 15, "the caller trace"
    )


def ready(url: str) -> httpx.Response:
    return httpx.get(url + "/ready", timeout=10)


def test_ready_fails_while_the_indexer_lags(
    observed: RouterProcess, own_devnet: DevnetProcess
) -> None:
    assert ready(observed.url).status_code == 200
    asyncio.run(own_devnet.set_faults(indexer_lag_blocks=MAX_INDEXER_LAG * 3))
    try:
        # The lag builds up block by block (0.2 s each).
        wait_until(lambda: ready(observed.url).status_code == 503, 30, "/ready 503")
        body = ready(observed.url).json()
        assert body["status"] == "not_ready"
        assert body["checks"]["indexer"].startswith("the indexer lags the node by")
        assert body["checks"]["database"] == "ok"
        lag = value(scrape(observed.url), "dydx_router_indexer_lag_blocks")
        assert lag > MAX_INDEXER_LAG
        assert httpx.get(observed.url + "/health").status_code == 200  # liveness unaffected
    finally:
        asyncio.run(own_devnet.reset_faults())
    wait_until(lambda: ready(observed.url).status_code == 200, 30, "/ready 200 again")


def test_ready_fails_while_blocks_stall_and_recovers(
    observed: RouterProcess, own_devnet: DevnetProcess
) -> None:
    assert ready(observed.url).status_code == 200
    asyncio.run(own_devnet.set_faults(block_stall=True))
    try:
        wait_until(lambda: ready(observed.url).status_code == 503, 15, "/ready 503")
        body = ready(observed.url).json()
        assert any(r.startswith("chain: the node's height") for r in body["reasons"]), body
        assert "has not advanced" in body["checks"]["chain"]
        wait_until(
            lambda: value(scrape(observed.url), "dydx_router_chain_height_age_seconds") > 1,
            5,
            "the height age gauge",
        )
        assert value(scrape(observed.url), "dydx_router_ready") == 0
        assert httpx.get(observed.url + "/health").status_code == 200
    finally:
        asyncio.run(own_devnet.reset_faults())
    wait_until(lambda: ready(observed.url).status_code == 200, 15, "/ready 200 again")
    assert ready(observed.url).json()["checks"]["chain"] == "ok"
