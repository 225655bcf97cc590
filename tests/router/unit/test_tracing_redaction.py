"""Exceptions recorded on trace spans go through the log redactor: a span's exception event is
exported as it is, and an exception message can quote a secret."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dydx_router.observability import redact, tracing

SECRET = "k3y-on-a-span-0123456789"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    tracing.configure(None, exporter=memory)
    try:
        yield memory
    finally:
        tracing.shutdown()


def test_an_exception_on_a_span_is_recorded_redacted(exporter: InMemorySpanExporter) -> None:
    redact.register_secret(SECRET)
    with pytest.raises(RuntimeError), tracing.span("chain.broadcast"):
        raise RuntimeError(f"node said no to https://u:{SECRET}@node/ and dxr_{'a' * 43}")
    with pytest.raises(ValueError), tracing.server_span("POST", "/v1/orders", []):
        raise ValueError(f"bad {SECRET}")
    spans = exporter.get_finished_spans()
    assert len(spans) == 2
    for s in spans:
        dumped = s.to_json()
        assert SECRET not in dumped and "dxr_aaaa" not in dumped
        assert s.status.status_code.name == "ERROR" and redact.REDACTED in s.status.description
        (event,) = [e for e in s.events if e.name == "exception"]
        assert redact.REDACTED in str(event.attributes["exception.message"])
        assert "Traceback" in str(event.attributes["exception.stacktrace"])
