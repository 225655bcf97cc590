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


def test_an_exception_on_a_span_is_redacted_in_every_layout_and_encoding(
    exporter: InMemorySpanExporter,
) -> None:
    from bip_utils import Bip39MnemonicGenerator

    words = str(Bip39MnemonicGenerator().FromEntropy(bytes(range(64, 96)))).split()
    key = bytes(range(200, 232))
    redact.register_secret_bytes(key)
    raised: list[BaseException] = [
        ValueError("restore from " + "_".join(words)),
        ValueError("backup: " + " ".join(f"{i}={w[:4]}" for i, w in enumerate(words, 1))),
        KeyError({w: i for i, w in enumerate(words)}),  # str() prints the dict
        RuntimeError(key),  # str() prints the bytes' repr
        RuntimeError([str(key)]),  # ... escaped once more inside a list
    ]
    for exc in raised:
        with pytest.raises(type(exc)), tracing.span("worker.step"):
            raise exc
    spans = exporter.get_finished_spans()
    assert len(spans) == len(raised)
    leaked = {" ".join(words[i : i + 3]) for i in range(22)}
    leaked |= {"_".join(words[i : i + 3]) for i in range(22)}
    leaked |= {f"{words[i]}'" for i in range(24)} | {repr(key)[2:30], repr(repr(key))[3:30]}
    for s in spans:
        (event,) = [e for e in s.events if e.name == "exception"]
        texts = [str(s.status.description), *(str(v) for v in event.attributes.values())]
        assert not [t for t in leaked if any(t in x for x in texts)], texts
        assert redact.REDACTED in str(event.attributes["exception.message"])
