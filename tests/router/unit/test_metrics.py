"""Series read at scrape time: database pool, websocket reconnects, circuit breakers."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from dydx_router.observability import metrics


class FakePool:
    def get_size(self) -> int:
        return 10

    def get_idle_size(self) -> int:
        return 3

    def get_max_size(self) -> int:
        return 32


def scrape(collector: metrics.ContainerCollector) -> dict[tuple[str, tuple[str, ...]], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.values()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_pool_reconnects_and_breakers_are_read_when_scraped() -> None:
    reconnects = [0]
    breakers = [
        {"endpoint": "10.0.0.1:9090", "state": "closed"},
        {"endpoint": "10.0.0.2:9090", "state": "open"},
    ]
    collector = metrics.ContainerCollector(
        FakePool(),
        lambda: reconnects[0],
        {
            "node": lambda: breakers,
            "indexer": lambda: [{"endpoint": "http://i", "state": "half_open"}],
        },
    )
    first = scrape(collector)
    assert first[("dydx_router_db_pool_connections", ("in_use",))] == 7
    assert first[("dydx_router_db_pool_connections", ("max",))] == 32
    assert first[("dydx_router_indexer_ws_reconnects_total", ())] == 0
    assert first[("dydx_router_circuit_breaker_state", ("10.0.0.2:9090", "node"))] == 2
    assert first[("dydx_router_circuit_breaker_state", ("10.0.0.1:9090", "node"))] == 0
    assert first[("dydx_router_circuit_breaker_state", ("http://i", "indexer"))] == 1
    reconnects[0] = 2
    breakers[1]["state"] = "closed"
    second = scrape(collector)
    assert second[("dydx_router_indexer_ws_reconnects_total", ())] == 2
    assert second[("dydx_router_circuit_breaker_state", ("10.0.0.2:9090", "node"))] == 0


def test_every_series_carries_the_prefix() -> None:
    names = [
        v.describe()[0].name
        for v in vars(metrics).values()
        if hasattr(v, "describe") and hasattr(v, "_name")
    ]
    assert names and all(n.startswith("dydx_router_") for n in names)


def test_endpoint_labels_never_carry_url_credentials() -> None:
    breakers = [
        {"endpoint": "https://user:s3cret-pw@indexer.example/v4?apikey=k3y-in-query", "state": "x"},
        {"endpoint": "wss://u:pw2-secret@[::1]:3003/v4/ws", "state": "closed"},
        {"endpoint": "grpcs://node.example:443", "state": "closed"},
        {"endpoint": "10.0.0.1:9090", "state": "closed"},
    ]
    registry = CollectorRegistry()
    registry.register(metrics.ContainerCollector(FakePool(), upstreams={"x": lambda: breakers}))
    text = generate_latest(registry).decode()
    assert "s3cret-pw" not in text and "k3y-in-query" not in text and "pw2-secret" not in text
    for label in (
        "https://indexer.example/v4",
        "wss://[::1]:3003/v4/ws",
        "grpcs://node.example:443",
        "10.0.0.1:9090",
    ):
        assert f'endpoint="{label}"' in text
