"""structlog set-up: JSON lines in production, a readable console in development."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import orjson
import structlog

from dydx_router.observability import tracing
from dydx_router.observability.redact import redact_event, redact_line


def add_trace_ids(
    logger: object, method: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    """The current trace and span ids, so a log line leads to its trace (only while tracing)."""
    if tracing.enabled():
        ids = tracing.current_ids()
        if ids is not None:
            event_dict["trace_id"], event_dict["span_id"] = ids
    return event_dict


def _dumps(obj: Any, **kw: Any) -> str:
    """orjson (about a third of a line's cost with the standard library's encoder); what it
    refuses (an integer past 64 bits) goes through ``json``, so logging never raises."""
    try:
        return orjson.dumps(obj, default=kw.get("default"), option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(obj, **kw)


def configure_logging(fmt: str = "console", level: str = "INFO") -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        # Redaction runs last before rendering, after tracebacks are text, and once more on the
        # rendered line (redact.py).
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            redact_event,
            renderer,
            redact_line,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Route stdlib logging (uvicorn, asyncpg, alembic) through the same renderer.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_event,
                renderer,
                redact_line,
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # One line per outbound request is noise at INFO; failures are logged by our clients.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
