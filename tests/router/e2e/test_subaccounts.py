"""Issue 13, items 7 and 9 end to end (HTTP -> PostgreSQL -> devnet): orders on a subaccount
other than the configured one are followed by the status stream, and a close retried with its
Idempotency-Key after it filled answers the first close.

Before: the stream followed only the default subaccount, so a cancelled resting order on
subaccount 1 stayed CANCEL_REQUESTED until its good-til-block passed; and a retried close
answered 404 no_position once the first one had filled.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from tests.fixtures.router import RouterProcess
from tests.router.e2e.test_orders import oracle, order_of, place, wait_for

pytestmark = pytest.mark.e2e


def test_a_resting_order_on_another_subaccount_is_followed_by_the_stream(
    router: RouterProcess,
) -> None:
    asyncio.run(router.devnet.fund(router.address, "10000", subaccount_number=1))
    with router.client() as c:
        far = (oracle(c, "BTC-USD") / 2).quantize(Decimal("1"))
        resp = place(
            c,
            {
                "market": "BTC-USD",
                "side": "BUY",
                "type": "LIMIT",
                "size": "0.001",
                "price": str(far),
                "good_til_seconds": 600,
                "subaccount": 1,
            },
        )
        assert resp.status_code == 201, resp.text
        order = resp.json()
        placed = time.monotonic()
        wait_for(lambda: order_of(c, order["id"]), lambda o: o["status"] == "OPEN", timeout=10)
        # The stream reports it as its block is indexed (0.2 s blocks here); the reconciler
        # asks about an order only once it is 3 s old.
        opened = time.monotonic() - placed
        assert opened < 2.5, f"OPEN {opened:.1f} s after the placement: not from the stream"
        cancel = c.delete(f"/v1/orders/{order['id']}")
        assert cancel.status_code == 200, cancel.text
        canceled_at = time.monotonic()
        done = wait_for(
            lambda: order_of(c, order["id"]), lambda o: o["status"] == "CANCELED", timeout=15
        )
        took = time.monotonic() - canceled_at
    assert took < 3.0, f"CANCELED {took:.1f} s after the cancel"
    assert done["status_history"][-1]["reason"].startswith("indexer: CANCELED")


def test_a_close_retried_after_it_filled_answers_the_first_close(router: RouterProcess) -> None:
    asyncio.run(router.devnet.fund(router.address, "10000", subaccount_number=2))
    with router.client() as c:
        resp = place(
            c,
            {
                "market": "BTC-USD",
                "side": "BUY",
                "type": "MARKET",
                "size": "0.001",
                "subaccount": 2,
            },
        )
        assert resp.status_code == 201, resp.text
        wait_for(lambda: order_of(c, resp.json()["id"]), lambda o: o["status"] == "FILLED")
        key = {"Idempotency-Key": f"close-{time.time_ns()}"}
        body = {"subaccount": 2}
        first = c.post("/v1/positions/BTC-USD/close", json=body, headers=key)
        assert first.status_code == 201, first.text
        closed = wait_for(
            lambda: order_of(c, first.json()["id"]), lambda o: o["status"] == "FILLED"
        )
        assert closed["side"] == "SELL" and closed["reduce_only"] is True
        # The client did not get (or lost) the answer and retries: the same close comes back.
        again = c.post("/v1/positions/BTC-USD/close", json=body, headers=key)
        assert again.status_code == 200, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]
        assert again.json()["status"] == "FILLED"
        # Without the key there is nothing left to close.
        none = c.post("/v1/positions/BTC-USD/close", json=body)
        assert none.status_code == 404 and none.json()["error"]["code"] == "no_position"
