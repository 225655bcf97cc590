"""Fuzz the running API against its own OpenAPI with schemathesis: valid and invalid data for every
operation, with an all-scopes key: not a single 5xx, and every response (errors included) as the
document describes it. Then hostile values schemathesis would not think of (exponent forms,
NaN/Infinity, huge and tiny numbers, deep nesting, non-UTF-8), each answered with a documented
error; and all the while the event loop keeps answering /health.

The router runs on a database of its own (the fuzz flips the kill switch and sets limits) with the
request rate limits lifted, so the fuzz exercises the handlers rather than the buckets. Its orders
are real: they go to the devnet, where some fill and most are refused by the chain or the router.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import schemathesis

from dydx_router.api.openapi import ERROR_BODY
from tests.fixtures.db import fresh_database
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import ROOT, RouterProcess, start_router, stop_router

pytestmark = pytest.mark.e2e
MIN_CASES = 1000
UNLIMITED = "1000000"


@pytest.fixture(scope="module")
def fuzzed(devnet: DevnetProcess, pg_server_url: str) -> Iterator[RouterProcess]:
    env = {
        f"DYDX_ROUTER_RATE_LIMIT_{cls}_{kind}": UNLIMITED
        for cls in ("READ", "TRADE", "ADMIN")
        for kind in ("PER_S", "BURST")
    }
    with fresh_database(pg_server_url, "fuzz") as url:
        r = start_router(devnet, url, "fuzz", env)
        try:
            yield r
        finally:
            stop_router(r)


class HealthProbe(threading.Thread):
    """Polls /health while the fuzz runs: the event loop must keep answering."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.latencies: list[float] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as c:
            while not self.stop.is_set():
                start = time.perf_counter()
                try:
                    resp = c.get("/health")
                except httpx.TransportError:
                    if self.stop.is_set():  # the router went away after the test
                        return
                    raise
                assert resp.status_code == 200
                self.latencies.append(time.perf_counter() - start)
                time.sleep(0.05)


# ~80 s on an idle machine; several times that when CI shares the cores between two workers.
@pytest.mark.timeout(480)
def test_no_server_error_for_any_generated_request(fuzzed: RouterProcess, tmp_path: Path) -> None:
    report = tmp_path / "report.ndjson"
    probe = HealthProbe(fuzzed.url)
    probe.start()
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("st")),
            "run",
            f"{fuzzed.url}/openapi.json",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_schema_conformance",
            "--header",
            f"Authorization: Bearer {fuzzed.api_key}",
            "--mode",
            "all",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "60",
            "--seed",
            "20261124",
            # One worker: with two, CPython 3.11's ast module, used by schemathesis from both
            # threads, now and then fails with "SystemError: AST constructor recursion depth
            # mismatch" (CPython gh-106905), a runtime error of the tool and not of the API.
            "--workers",
            "1",
            "--request-timeout",
            "30",
            # An accepted GET /v1/events never ends (a stream): every generated request would
            # wait out the timeout. Its refusals and its stream are tested in
            # tests/router/e2e/test_events.py.
            "--exclude-path",
            "/v1/events",
            "--continue-on-failure",
            "--no-color",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=420,
        cwd=ROOT,
    )
    probe.stop.set()
    probe.join(timeout=30)
    tail = (done.stdout + done.stderr)[-6000:]
    assert done.returncode == 0, tail
    cases = 0
    statuses: dict[int, int] = {}
    for line in report.read_text().splitlines():
        event = json.loads(line)
        for interaction in _interactions(event):
            cases += 1
            status = interaction["response"]["status_code"]
            statuses[status] = statuses.get(status, 0) + 1
    print("schemathesis cases:", cases, "statuses:", sorted(statuses.items()))
    assert cases >= MIN_CASES, (cases, tail)
    assert not [s for s in statuses if s >= 500], statuses
    # The fuzz reached the handlers: accepted requests and every kind of refusal.
    assert statuses.get(200, 0) + statuses.get(201, 0) > 100, statuses
    assert statuses.get(422, 0) > 100, statuses
    print(
        f"/health during the fuzz: {len(probe.latencies)} probes, max {max(probe.latencies):.3f} s"
    )
    # The loop never stalls: a hostile input used to hang it for good; a probe may wait a
    # moment for a core when CI's two test workers share the machine.
    assert len(probe.latencies) > 50 and max(probe.latencies) < 3.0


ORDER = {"market": "BTC-USD", "side": "BUY", "type": "LIMIT", "size": "0.001", "price": "50000"}
# (path, method, path parameters, a valid body, its decimal fields)
DECIMAL_BODIES: list[tuple[str, str, dict[str, str], dict[str, Any], tuple[str, ...]]] = [
    ("/v1/orders", "POST", {}, ORDER, ("size", "price")),
    ("/v1/orders", "POST", {}, ORDER | {"type": "STOP_LIMIT"}, ("trigger_price",)),
    ("/v1/positions/{market}/close", "POST", {"market": "BTC-USD"}, {}, ("size",)),
    (
        "/v1/admin/risk-limits/global",
        "PUT",
        {},
        {},
        ("max_order_size", "max_order_notional", "max_position_notional"),
    ),
    (
        "/v1/admin/risk-limits/markets/{market}",
        "PUT",
        {"market": "BTC-USD"},
        {},
        ("max_order_size",),
    ),
]
HOSTILE_VALUES: list[Any] = [
    "1e-99999999",
    "1e999999999",
    "1E+400",
    "-1e-5",
    "9e-19",
    "0e0",
    "NaN",
    "-nan",
    "sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    "1" * 64,
    "0." + "0" * 62 + "1",
    "1_000",
    "",
    1e308,
    1,
    True,
    ["1"],
    {"value": "1"},
]
# Well-formed after all: they reach the handlers, and their answers must conform too.
EDGE_VALUES: list[Any] = ["1.5e3", " 1 ", "1E-18", None]
RAW_BODIES = [
    b"[" * 32_000 + b"]" * 32_000,
    b'{"size": ' * 2_900 + b"1" + b"}" * 2_900,
    b'{"market": "BTC-\xff-USD", "side": "BUY", "type": "MARKET", "size": "1"}',
    b'{"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": 1e999}',
    b'{"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": NaN}',
    b'{"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": -Infinity}',
    b"\xff\xfe\x00\x00",
    b'{"subaccount": ' + b"9" * 4_301 + b"}",  # past json.loads' 4,300-digit integer limit
]


def test_hostile_values_get_documented_errors(fuzzed: RouterProcess) -> None:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    auth = {"Authorization": f"Bearer {fuzzed.api_key}"}
    seen: dict[int, int] = {}
    for path, method, params, body, fields in DECIMAL_BODIES:
        operation = schema[path][method]
        for field in fields:
            for value in HOSTILE_VALUES + EDGE_VALUES:
                case = operation.Case(path_parameters=params, body=body | {field: value})
                response = case.call(base_url=fuzzed.url, headers=auth)
                case.validate_response(response, checks=checks)
                if value in EDGE_VALUES:
                    continue
                assert response.status_code == 422, (path, field, value, response.text)
                assert response.json()["error"]["code"] == "invalid_request"
                seen[422] = seen.get(422, 0) + 1
        for raw in RAW_BODIES:
            concrete = path.format(**params)
            with httpx.Client(base_url=fuzzed.url, headers=auth, timeout=30) as c:
                resp = c.request(
                    method, concrete, content=raw, headers={"content-type": "application/json"}
                )
            assert resp.status_code == 422, (concrete, raw[:40], resp.text)
            jsonschema.validate(resp.json(), ERROR_BODY)
            seen[422] = seen.get(422, 0) + 1
    print("hostile cases refused with 422:", seen[422])
    assert seen[422] >= 150


def _interactions(event: object) -> Iterator[dict[str, object]]:
    """Every recorded request/response pair in one ndjson event, wherever it nests."""
    if isinstance(event, dict):
        if "request" in event and isinstance(event.get("response"), dict):
            yield event
            return
        for value in event.values():
            yield from _interactions(value)
    elif isinstance(event, list):
        for value in event:
            yield from _interactions(value)
