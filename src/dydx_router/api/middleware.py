"""One ASGI middleware for what every request needs: a request id, metrics, a trace span and an
access log line.

A plain ASGI callable rather than Starlette's ``BaseHTTPMiddleware``, which would add a task and a
stream per request on the order path. For each HTTP request it

- takes the caller's ``X-Request-ID`` (if it is a sane token) or makes one, binds it to every log
  line of the request (structlog contextvars) and returns it as ``X-Request-ID``;
- counts the request and observes its duration by *route template* (``/v1/orders/{order_id}``,
  never the raw path; ``<unmatched>`` for 404s) and status;
- opens the request's server span (a no-op while tracing is off) and continues a caller's trace;
- returns ``Server-Timing: chain;dur=..., total;dur=...`` (ms): the time spent waiting on the
  node, so clients and benchmarks can tell the router's own latency from the chain's;
- writes one ``request_completed`` line (probes and ``/metrics`` only at debug level).
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dydx_router.observability import metrics, tracing

log = structlog.get_logger("dydx_router.access")

_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
UNMATCHED = "<unmatched>"
# Routes polled by machines: their lines would drown the rest at INFO.
QUIET_ROUTES = frozenset({"/health", "/ready", "/metrics"})


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id" and _REQUEST_ID.match(value):
            return value.decode("ascii")
    return uuid.uuid4().hex


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        request_id = _request_id(headers)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        timing = metrics.RequestTiming()
        metrics.REQUEST_TIMING.set(timing)
        method: str = scope["method"]
        status = 500
        rid = request_id.encode("ascii")

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                total_ms = (time.perf_counter() - start) * 1000
                server_timing = (
                    f"chain;dur={timing.chain_s * 1000:.3f}, total;dur={total_ms:.3f}"
                ).encode("ascii")
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", rid),
                    (b"server-timing", server_timing),
                ]
            await send(message)

        metrics.HTTP_IN_FLIGHT.inc()
        # The access line is written inside the span, so it carries the trace id too.
        with tracing.server_span(method, scope["path"], headers) as span:
            failure: BaseException | None = None
            try:
                await self.app(scope, receive, send_with_headers)
            except BaseException as exc:
                failure = exc
                raise
            finally:
                metrics.HTTP_IN_FLIGHT.dec()
                elapsed = time.perf_counter() - start
                route = route_template(scope)
                code = str(status)
                metrics.labelled(metrics.HTTP_REQUESTS, method, route, code).inc()
                metrics.labelled(metrics.HTTP_DURATION, method, route, code).observe(elapsed)
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if self.access_log:
                    self._log(method, route, scope, status, elapsed, timing, failure)

    @staticmethod
    def _log(
        method: str,
        route: str,
        scope: Scope,
        status: int,
        elapsed: float,
        timing: metrics.RequestTiming,
        failure: BaseException | None,
    ) -> None:
        fields: dict[str, Any] = {
            "method": method,
            "route": route,
            "path": scope["path"],
            "status": status,
            "duration_ms": round(elapsed * 1000, 3),
        }
        if timing.chain_s:
            fields["chain_ms"] = round(timing.chain_s * 1000, 3)
        if failure is not None:
            log.error("request_failed", error_type=type(failure).__name__, **fields)
        elif route in QUIET_ROUTES and status < 500:
            log.debug("request_completed", **fields)
        else:
            log.info("request_completed", **fields)
