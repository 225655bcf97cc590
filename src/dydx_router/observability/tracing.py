"""OpenTelemetry tracing: HTTP -> service -> database -> chain spans, exported over OTLP.

Off by default. :func:`configure` turns it on when ``DYDX_ROUTER_OTLP_ENDPOINT`` is set: a
``TracerProvider`` with a batch processor and the OTLP/gRPC exporter (both run off the event loop,
in the SDK's exporter thread). While it is off, :func:`span` and :func:`server_span` return one
shared no-op object: no SDK objects, no context switches, one boolean test per call.

The W3C ``traceparent`` header of an incoming request is honoured, so a caller's trace continues
through the router; the trace id is added to every log line written inside a span
(``logs.add_trace_ids``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any

_enabled = False
_tracer: Any = None
_provider: Any = None


class _NoSpan:
    """Stands in for a span while tracing is off."""

    __slots__ = ()

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def set_attribute(self, key: str, value: Any) -> None:
        return None

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        return None


NO_SPAN = _NoSpan()


def enabled() -> bool:
    return _enabled


def configure(
    endpoint: str | None,
    *,
    service_name: str = "dydx-router",
    sample_ratio: float = 1.0,
    insecure: bool = True,
    exporter: Any = None,
) -> bool:
    """Turn tracing on if ``endpoint`` (or a test ``exporter``) is given; True if on.

    ``exporter`` replaces the OTLP exporter (tests pass an in-memory one) and is flushed
    synchronously, so spans are visible as soon as they end.
    """
    global _enabled, _tracer, _provider
    if endpoint is None and exporter is None:
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio

    from dydx_router import __version__

    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name, "service.version": __version__}),
        sampler=ParentBasedTraceIdRatio(sample_ratio),
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=insecure, timeout=5))
        )
    # Our own provider, not the global one: the service never changes process-wide state that a
    # library or a test might also set.
    _provider = provider
    _tracer = provider.get_tracer("dydx_router")
    _enabled = True
    return True


def shutdown() -> None:
    """Flush and stop the exporter (on service stop)."""
    global _enabled, _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _enabled, _tracer, _provider = False, None, None


def span(name: str, **attributes: Any) -> Any:
    """A child span of the current one, as a context manager (the no-op one while off)."""
    if not _enabled:
        return NO_SPAN
    return _redacting_span(name, attributes=_clean(attributes))


@contextmanager
def _redacting_span(name: str, **kwargs: Any) -> Iterator[Any]:
    """A span that records an exception through the log redactor: OpenTelemetry's own
    recording would export the exception's message and traceback as they are, and those can
    quote a secret (a key in a URL, a mnemonic in a malformed input)."""
    with _tracer.start_as_current_span(
        name, record_exception=False, set_status_on_exception=False, **kwargs
    ) as s:
        try:
            yield s
        except Exception as exc:
            record_exception(s, exc)
            raise


def record_exception(s: Any, exc: BaseException) -> None:
    """Mark ``s`` failed with ``exc``, its message and traceback redacted (redact.py)."""
    import traceback

    from opentelemetry.trace import Status, StatusCode

    from dydx_router.observability.redact import REDACTOR

    message = REDACTOR.text(str(exc))
    s.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"))
    s.add_event(
        "exception",
        {
            "exception.type": type(exc).__qualname__,
            "exception.message": message,
            "exception.stacktrace": REDACTOR.text("".join(traceback.format_exception(exc))),
        },
    )


@contextmanager
def _server_span(name: str, headers: list[tuple[bytes, bytes]], attributes: Any) -> Iterator[Any]:
    from opentelemetry.propagate import extract
    from opentelemetry.trace import SpanKind

    carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers if k in _TRACE_HEADERS}
    parent = extract(carrier) if carrier else None
    with _redacting_span(name, context=parent, kind=SpanKind.SERVER, attributes=attributes) as s:
        yield s


_TRACE_HEADERS = frozenset({b"traceparent", b"tracestate"})


def server_span(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> Any:
    """The span of one inbound HTTP request; continues the caller's trace from ``traceparent``."""
    if not _enabled:
        return NO_SPAN
    return _server_span(
        f"{method} {path}", headers, {"http.request.method": method, "url.path": path}
    )


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span as hex, or None."""
    if not _enabled:
        return None
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None}
