"""Issue 16 parts 1-2 end to end (HTTP -> PostgreSQL -> devnet): the event stream, fills, the
multi-status filter, lookup by client_order_id and the account, on a router of its own (a
one-second heartbeat, so that a test sees it)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from dydx_router.store.database import asyncpg_dsn
from dydx_router.store.events import EventRepository
from tests.fixtures.db import fresh_database
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import RouterProcess, create_key, start_router, stop_router
from tests.router.e2e.test_orders import oracle, order_of, place, wait_for

pytestmark = pytest.mark.e2e
ORDER_FIELDS = {
    "order_id",
    "client_order_id",
    "market",
    "side",
    "status",
    "filled_size",
    "average_fill_price",
    "subaccount_number",
    "reason",
    "placement_reason",
    "cancel_reason",
    "at",
}
FILL_FIELDS = {"order_id", "market", "side", "price", "size", "fee", "liquidity", "at"}


@pytest.fixture(scope="module")
def evrouter(devnet: DevnetProcess, pg_server_url: str) -> Iterator[RouterProcess]:
    with fresh_database(pg_server_url, "events") as url:
        r = start_router(devnet, url, "events", {"DYDX_ROUTER_EVENTS_HEARTBEAT_S": "1"})
        try:
            yield r
        finally:
            stop_router(r)


class Sse:
    """A minimal SSE reader over httpx: (event, id, data) and the comment lines seen."""

    def __init__(self, r: RouterProcess, key: str | None = None, **params: Any) -> None:
        headers = {"Authorization": f"Bearer {key or r.api_key}"}
        if "last_event_id" in params:
            headers["Last-Event-ID"] = str(params.pop("last_event_id"))
        self._client = httpx.Client(base_url=r.url, headers=headers, timeout=10)
        self._cm = self._client.stream("GET", "/v1/events", params=params)
        self.response = self._cm.__enter__()
        self._lines = self.response.iter_lines()
        self.comments: list[str] = []

    def next(self, within: float = 20) -> tuple[str, int | None, dict[str, Any]] | None:
        """The next event, or None if none came ``within`` seconds (heartbeats keep the read
        loop turning)."""
        deadline = time.monotonic() + within
        fields: dict[str, str] = {}
        while time.monotonic() < deadline:
            line = next(self._lines)
            if line.startswith(":"):
                self.comments.append(line)
                continue
            if not line:
                if "data" in fields:
                    ident = fields.get("id")
                    return (
                        fields.get("event", "message"),
                        int(ident) if ident else None,
                        json.loads(fields["data"]),
                    )
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        return None

    def take(self, n: int, within: float = 30) -> list[tuple[str, int | None, dict[str, Any]]]:
        out = []
        deadline = time.monotonic() + within
        while len(out) < n:
            e = self.next(max(0.1, deadline - time.monotonic()))
            if e is None:
                pytest.fail(f"{len(out)} events of {n}: {out}")
            out.append(e)
        return out

    def until(self, done: Any, within: float = 30) -> list[tuple[str, int | None, dict[str, Any]]]:
        out = []
        deadline = time.monotonic() + within
        while not out or not done(out[-1]):
            e = self.next(max(0.1, deadline - time.monotonic()))
            if e is None:
                pytest.fail(f"not done; seen: {out}")
            out.append(e)
        return out

    def close(self) -> None:
        self._cm.__exit__(None, None, None)
        self._client.close()


def _market_buy(c: httpx.Client, coid: str) -> dict[str, Any]:
    resp = place(
        c,
        {
            "market": "BTC-USD",
            "side": "BUY",
            "type": "MARKET",
            "size": "0.001",
            "client_order_id": coid,
        },
    )
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def test_order_and_fill_events_in_order_then_an_exact_resume(evrouter: RouterProcess) -> None:
    stream = Sse(evrouter)
    try:
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        with evrouter.client() as c:
            first = _market_buy(c, f"ev-{time.time_ns()}")
            seen = stream.until(lambda e: e[0] == "fill" and e[2]["order_id"] == first["id"])
            orders = [e for e in seen if e[0] == "order" and e[2]["order_id"] == first["id"]]
            statuses = [e[2]["status"] for e in orders]
            assert statuses[0] == "PENDING" and statuses[-1] == "FILLED", statuses
            history = [h["to_status"] for h in order_of(c, first["id"])["status_history"]]
            assert statuses == history  # every stored change, in order, once
            for _, _, data in orders:
                assert set(data) == ORDER_FIELDS
                assert isinstance(data["filled_size"], str)
            filled = orders[-1][2]
            stored = order_of(c, first["id"])
            assert Decimal(filled["filled_size"]) == Decimal(stored["filled_size"])
            assert Decimal(filled["average_fill_price"]) == Decimal(stored["average_fill_price"])
            assert filled["client_order_id"] == first["client_order_id"]
            fill = seen[-1][2]
            assert set(fill) == FILL_FIELDS
            assert isinstance(fill["price"], str) and isinstance(fill["fee"], str)
            ids = [e[1] for e in seen]
            assert all(i is not None for i in ids) and ids == sorted(set(ids))  # type: ignore[type-var]
            # A heartbeat (comment line) came while the stream idled between events.
            stream.next(within=1.5)
            assert stream.comments, "no heartbeat comment line in 1.5 s"
        stream.close()
        # While the client is away: another order and its events.
        with evrouter.client() as c:
            second = _market_buy(c, f"ev-{time.time_ns()}")
            wait_for(lambda: order_of(c, second["id"]), lambda o: o["status"] == "FILLED")
            time.sleep(0.5)
        cut = seen[1][1]
        assert cut is not None
        stream = Sse(evrouter, last_event_id=cut)
        resumed = stream.until(lambda e: e[0] == "fill" and e[2]["order_id"] == second["id"])
        got = [e[1] for e in resumed]
        # Exactly the events after the cut, in order: the rest of the first order's, then
        # every one of the second's; none twice, none missing (ids are gap-free).
        assert got[: len(ids) - 2] == ids[2:]
        assert got == list(range(cut + 1, cut + 1 + len(got)))
        assert {e[2]["order_id"] for e in resumed[len(ids) - 2 :] if "order_id" in e[2]} == {
            second["id"]
        }
    finally:
        stream.close()


def test_a_key_never_sees_another_keys_events(evrouter: RouterProcess) -> None:
    _, other = asyncio.run(create_key(evrouter.database_url, {"read", "trade"}, name="other"))
    mine = Sse(evrouter, key=other)
    watcher = Sse(evrouter)  # the admin key: unrestricted, sees every order
    try:
        with evrouter.client() as c:
            theirs = _market_buy(c, f"iso-{time.time_ns()}")
            watcher.until(lambda e: e[0] == "fill" and e[2]["order_id"] == theirs["id"])
        with evrouter.client(other) as c:
            own = _market_buy(c, f"own-{time.time_ns()}")
        seen = mine.until(lambda e: e[0] == "fill" and e[2]["order_id"] == own["id"])
        assert {e[2].get("order_id") for e in seen} == {own["id"]}
    finally:
        mine.close()
        watcher.close()


def test_filters_by_market_and_order(evrouter: RouterProcess) -> None:
    with evrouter.client() as c:
        eth = Sse(evrouter, market="ETH-USD")
        one = None
        try:
            resting = place(
                c,
                {
                    "market": "BTC-USD",
                    "side": "BUY",
                    "type": "LIMIT",
                    "size": "0.001",
                    "price": str((oracle(c, "BTC-USD") / 2).quantize(Decimal(1))),
                    "good_til_seconds": 600,
                },
            ).json()
            one = Sse(evrouter, order_id=resting["id"])
            sell = place(c, {"market": "ETH-USD", "side": "BUY", "type": "MARKET", "size": "0.01"})
            assert sell.status_code == 201, sell.text
            got = eth.until(lambda e: e[0] == "fill")
            assert {e[2]["market"] for e in got} == {"ETH-USD"}
            assert c.delete(f"/v1/orders/{resting['id']}").status_code == 200
            mine = one.until(lambda e: e[2].get("status") == "CANCELED")
            assert {e[2]["order_id"] for e in mine} == {resting["id"]}
        finally:
            eth.close()
            if one is not None:
                one.close()


def test_fills_account_statuses_and_client_order_id(evrouter: RouterProcess) -> None:
    with evrouter.client() as c:
        coid = f"acct-{time.time_ns()}"
        order = _market_buy(c, coid)
        done = wait_for(lambda: order_of(c, order["id"]), lambda o: o["status"] == "FILLED")

        def fills_of() -> dict[str, Any]:
            body: dict[str, Any] = c.get("/v1/fills", params={"order_id": order["id"]}).json()
            return body

        page = wait_for(
            fills_of,
            lambda b: sum(Decimal(f["size"]) for f in b["fills"]) == Decimal(done["filled_size"]),
        )
        # Truthful: exactly what the indexer reports for the order (fee included).
        indexer = httpx.get(
            f"{evrouter.devnet.indexer}/v4/fills",
            params={"address": evrouter.address, "subaccountNumber": 0, "market": "BTC-USD"},
        ).json()["fills"]
        venue = {f["id"]: f for f in indexer}
        for f in page["fills"]:
            v = venue[f["id"]]
            assert (Decimal(f["price"]), Decimal(f["size"]), Decimal(f["fee"])) == (
                Decimal(v["price"]),
                Decimal(v["size"]),
                Decimal(v["fee"]),
            )
            assert f["liquidity"] == v["liquidity"] and f["order_id"] == order["id"]
        assert (
            c.get("/v1/fills", params={"market": "ETH-USD", "order_id": order["id"]}).json()[
                "fills"
            ]
            == []
        )
        window = {"since": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
        assert c.get("/v1/fills", params=window).json()["fills"] == []
        paged = c.get("/v1/fills", params={"limit": 1}).json()
        assert len(paged["fills"]) == 1 and paged["next_cursor"]
        nxt = c.get("/v1/fills", params={"limit": 1, "cursor": paged["next_cursor"]}).json()
        assert nxt["fills"] and nxt["fills"][0]["id"] != paged["fills"][0]["id"]

        # Lookup by client_order_id.
        by = c.get(f"/v1/orders/by-client-id/{coid}")
        assert by.status_code == 200 and by.json()["id"] == order["id"]
        listed = c.get("/v1/orders", params={"client_order_id": coid}).json()["orders"]
        assert [o["id"] for o in listed] == [order["id"]]
        missing = c.get("/v1/orders/by-client-id/nope-none")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "order_not_found"

        # Several statuses in one filter.
        far = (oracle(c, "BTC-USD") / 2).quantize(Decimal(1))
        resting = place(
            c,
            {
                "market": "BTC-USD",
                "side": "BUY",
                "type": "LIMIT",
                "size": "0.001",
                "price": str(far),
                "good_til_seconds": 600,
            },
        ).json()
        wait_for(lambda: order_of(c, resting["id"]), lambda o: o["status"] == "OPEN")
        both = c.get("/v1/orders", params={"status": "OPEN,FILLED", "limit": 500}).json()
        got = {o["status"] for o in both["orders"]}
        assert got == {"OPEN", "FILLED"}
        assert {resting["id"], order["id"]} <= {o["id"] for o in both["orders"]}
        bad = c.get("/v1/orders", params={"status": "OPEN,NOPE"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_status"

        # The account: collateral as GET /v1/positions says, the open orders, the key.
        acct = c.get("/v1/account")
        assert acct.status_code == 200, acct.text
        a = acct.json()
        pos = c.get("/v1/positions").json()
        assert Decimal(a["free_collateral"]) > 0 and Decimal(a["equity"]) > 0
        assert abs(Decimal(a["equity"]) - Decimal(pos["equity"])) < Decimal("50")
        assert Decimal(0) <= Decimal(a["margin_usage"]) < 1
        opened = c.get(
            "/v1/orders", params={"status": "OPEN,UNTRIGGERED,PARTIALLY_FILLED", "limit": 500}
        ).json()["orders"]
        assert a["open_orders"] >= 1
        assert a["open_orders"] <= len(opened) + 5
        assert a["trading_state"] == "ACTIVE"
        assert "trade" in a["api_key"]["scopes"]
        assert a["api_key"]["rate_limits"]["trade"]["burst"] > 0
        c.delete(f"/v1/orders/{resting['id']}")


def test_a_resume_point_past_retention_answers_410(evrouter: RouterProcess) -> None:
    async def prune() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(evrouter.database_url))
        try:
            await EventRepository(conn).prune(datetime.now(UTC) + timedelta(days=1))
        finally:
            await conn.close()

    asyncio.run(prune())
    with evrouter.client() as c:
        resp = c.get("/v1/events", headers={"Last-Event-ID": "1"})
        assert resp.status_code == 410
        assert resp.json()["error"]["code"] == "event_id_expired"
        future = c.get("/v1/events", headers={"Last-Event-ID": "999999999"})
        assert future.status_code == 400
        assert future.json()["error"]["code"] == "unknown_event_id"
        anon = httpx.get(evrouter.url + "/v1/events")
        assert anon.status_code == 401
