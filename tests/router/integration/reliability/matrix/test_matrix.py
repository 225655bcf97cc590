"""The fault matrix (issue 13, "Proof"): the router over HTTP against three validators, one fault
per case, and at the end of EVERY case the truth check (``World.truth``): every stored order
compared with the chain by the audit (indexer and node), every OrderId the chain holds is a
stored order, and the number of orders placed on the chain is the number the case placed
(each once: never a second OrderId for one order).

Cases: a lost reply on validator 0 then failover (short-term, stateful); a first send the chain
rejected whose re-send hears sdk/19; the indexer 10 blocks behind during fills; kill -9 of the
router at each step of a placement and of a cancel (short-term, stateful; ``service/faults.py``
holds the process at the step); HALTED during recovery; the status stream killed by an indexer
error; orders on subaccounts 0 and 1 at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import ROUND_DOWN, Decimal
from typing import Any

import httpx
import pytest

from dydx_router.domain.order import OrderFlags
from tests.router.integration.reliability.matrix.world import HOLD_S, World
from tests.router.integration.reliability.truth import history

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(90)]


async def _in_background_until_killed(w: World, step: str, sends: list[Any]) -> None:
    """Run the requests, wait until the router holds at ``step`` (once per request), kill -9."""
    tasks = [asyncio.create_task(s) for s in sends]
    deadline = time.monotonic() + 20
    while w.live.log_tail(1_000_000).count(f'"step":"{step}"') < len(sends):
        assert time.monotonic() < deadline, f"never held at {step}:\n{w.live.log_tail()}"
        await asyncio.sleep(0.05)
    w.kill()
    for t in tasks:
        with contextlib.suppress(httpx.TransportError):
            await t
            raise AssertionError("a request held at its step was answered")


# --- lost replies -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["short", "stateful"])
async def test_lost_reply_on_validator_0_then_failover(world: World, kind: str) -> None:
    w = world
    # Validators 1 and 2 answer 0.2 s slower, so the router's health ranking sends to 0 first.
    for slower in (1, 2):
        await w.devnet.set_validator_faults(slower, grpc_latency_s=0.2)
    await w.start()
    bodies = [w.resting(kind)] + ([w.market("SELL")] if kind == "short" else [])
    # Validator 0 runs CheckTx and keeps the tx, but its reply is lost: the router fails over.
    await w.devnet.set_validator_faults(0, broadcast_reply_lost={"times": 1})
    placed = [await w.place(b) for b in bodies]
    faults = await w.devnet._call("GET", "/devnet/faults", params={"validator": 0})
    assert faults["broadcast_reply_lost"] is None  # it fired
    assert "node_endpoint_failed" in w.log()
    for p, b in zip(placed, bodies, strict=True):
        assert p["status"] in {"SUBMITTED", "UNKNOWN", "OPEN", "FILLED"}, history(p)
        await w.until(p["id"], {"FILLED"} if b["type"] == "MARKET" else {"OPEN"})
    await w.truth(placed=len(bodies))


async def test_a_rejected_send_whose_resend_hears_sdk_19_is_never_submitted(world: World) -> None:
    """dYdX validators cache rejected txs too (KeepInvalidTxsInCache): the first send is refused
    by CheckTx (a post-only order that crosses: clob/2003) and its reply lost on every
    validator; the identical bytes sent again hear sdk/19. That is no proof of acceptance."""
    w = world
    await w.start()
    btc = w.specs["BTC-USD"]
    tick = Decimal(btc["tick_size"])
    crossing = (Decimal(btc["oracle_price"]) * Decimal("1.05") / tick).to_integral_value(
        ROUND_DOWN
    ) * tick
    body = {
        "market": "BTC-USD",
        "side": "BUY",
        "type": "LIMIT",
        "size": str(btc["min_order_size"]),
        "price": str(crossing),
        "post_only": True,
        "good_til_blocks": 20,
    }
    await w.devnet.set_faults(broadcast_reply_lost={"times": 1})  # once on each validator
    placed = await w.place(body)
    final = await w.until(placed["id"], {"EXPIRED", "REJECTED", "CANCELED", "FILLED"}, 30)
    reasons = [h["reason"] for h in final["status_history"]]
    assert "SUBMITTED" not in history(final) and "OPEN" not in history(final), reasons
    assert '"event":"order_rebroadcast"' in w.log() and '"code":19' in w.log()  # sdk/19 heard
    await w.truth(placed=0, final=True, figures={"history": history(final)})


# --- the indexer behind ---------------------------------------------------------------------------


async def test_indexer_10_blocks_behind_during_fills(world: World) -> None:
    w = world
    await w.start()
    await w.devnet.set_faults(indexer_lag_blocks=10)
    try:
        placed = [await w.place(w.market("BUY" if i % 2 else "SELL")) for i in range(4)]
        last_gtb = max(p["chain"]["good_til_block"] for p in placed)
        # The node passes every good-til-block and the router's backstop while the indexer
        # (10 blocks behind) has not: nothing may be written EXPIRED meanwhile.
        deadline = time.monotonic() + 30
        while (await w.devnet.status())["height"] < last_gtb + 7:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        during = [(await w.order(p["id"]))["status"] for p in placed]
    finally:
        await w.devnet.reset_faults()
    assert "EXPIRED" not in during, during
    for p in placed:
        await w.until(p["id"], {"FILLED"}, 20)
    await w.truth(placed=4, final=True, figures={"statuses_while_lagging": during})


# --- kill -9 at each step -------------------------------------------------------------------------
# A short-term and a stateful order go through the step together, so one kill and one restart
# cover both kinds (a router start costs seconds on a loaded machine).


def _both_kinds(w: World) -> list[dict[str, Any]]:
    # 40 blocks (10 s): the short-term order outlives the restart, so its re-send can land.
    return [{**w.resting("short"), "good_til_blocks": 40}, w.resting("stateful", "SELL")]


@pytest.mark.parametrize("step", ["before_row", "before_broadcast", "after_broadcast"])
async def test_kill_9_during_placement(world: World, step: str) -> None:
    w = world
    await w.start(holds={step: HOLD_S})
    await _in_background_until_killed(w, step, [w.place(b) for b in _both_kinds(w)])
    at_crash = await w.rows()
    await w.start()
    if step == "before_row":
        assert at_crash == []  # nothing stored, so nothing may reach the chain
        await asyncio.sleep(1.0)  # a reconcile pass or two
        await w.truth(placed=0)
        return
    assert sorted(r["status"] for r in at_crash) == ["PENDING", "PENDING"]
    placed: int | None = 0
    for r in at_crash:
        # The short-term order's 40 blocks (10 s) can run out before a restart on a busy machine:
        # then EXPIRED is the truth (and, if it was never sent, re-sending it would be refused),
        # and truth() below holds the router to what the chain did.
        short = r["order_flags"] == OrderFlags.SHORT_TERM
        body = await w.until(str(r["id"]), {"OPEN", "EXPIRED"} if short else {"OPEN"}, 30)
        # An EXPIRED order crashed before its broadcast may or may not have been re-sent in time.
        known = step == "after_broadcast" or body["status"] == "OPEN"
        placed = placed + 1 if known and placed is not None else None
    await w.truth(placed=placed)


@pytest.mark.parametrize("step", ["before_cancel_broadcast", "after_cancel_broadcast"])
async def test_kill_9_during_cancel(world: World, step: str) -> None:
    w = world
    await w.start(holds={step: HOLD_S})
    placed = [await w.place(b) for b in _both_kinds(w)]
    for p in placed:
        await w.until(p["id"], {"OPEN"})
    await _in_background_until_killed(w, step, [w.cancel(p["id"]) for p in placed])
    assert [r["status"] for r in await w.rows()] == ["CANCEL_REQUESTED"] * 2
    await w.start()
    short, stateful = placed
    # A short-term cancel is best effort until the good-til-block: CANCELED or EXPIRED then.
    await w.until(short["id"], {"CANCELED", "EXPIRED"}, 40)
    await w.until(stateful["id"], {"CANCELED"}, 40)
    await w.truth(placed=2, final=True)


# --- the kill switch during recovery --------------------------------------------------------------


async def test_halted_during_recovery(world: World) -> None:
    w = world
    await w.start(holds={"before_broadcast": HOLD_S})
    sends = [w.place(b) for b in _both_kinds(w)]
    await _in_background_until_killed(w, "before_broadcast", sends)
    rows = {r["order_flags"]: str(r["id"]) for r in await w.rows()}
    short, stateful = rows[0], rows[64]
    await w.halt_offline()
    await w.start()
    await w.until(short, {"CANCELED", "EXPIRED"}, 40)
    await w.until(stateful, {"UNKNOWN"}, 20)
    await asyncio.sleep(1.5)  # more reconcile passes, still halted
    assert await w.chain_placements() == set()  # nothing left by the crash reached the chain
    assert (await w.order(stateful))["status"] == "UNKNOWN"
    await w.set_trading_state("ACTIVE")
    await w.until(stateful, {"OPEN"}, 30)  # the stored tx, sent once now
    await w.truth(placed=1, figures={"short_term": history(await w.order(short))})


# --- the status stream ----------------------------------------------------------------------------

# The reconciler's passes are far apart, so statuses must come from the stream.
STREAM_ONLY = {"DYDX_ROUTER_RECONCILE_INTERVAL_S": "60"}


async def test_a_stream_killed_by_an_indexer_error(world: World) -> None:
    w = world
    await w.start(env=STREAM_ONLY)
    # The next subscriptions (the one for subaccount 1, then the stream's resubscription after
    # its restart) are answered with socks' error message.
    await w.devnet.set_faults(indexer_ws_subscribe_error=2)
    started = time.monotonic()
    placed = [await w.place(w.market("BUY", 1)), await w.place(w.market("SELL", 0))]
    for p in placed:
        await w.until(p["id"], {"FILLED"}, 15)
    filled_after = time.monotonic() - started
    assert (await w.devnet._call("GET", "/devnet/faults"))["indexer_ws_subscribe_error"] == 0
    assert "worker_restart" in w.log() or "worker_crashed" in w.log(), w.live.log_tail()
    await w.truth(placed=2, final=True, figures={"filled_after_s": round(filled_after, 2)})
    assert filled_after < 15


async def test_orders_on_subaccounts_0_and_1_at_once(world: World) -> None:
    w = world
    await w.start(env=STREAM_ONLY)
    bodies = [w.resting("short", "BUY", 0), w.resting("short", "BUY", 1)]
    bodies += [w.market("BUY", 0), w.market("SELL", 1)]
    placed = await asyncio.gather(*(w.place(b) for b in bodies))
    assert {p["subaccount"] for p in placed} == {0, 1}
    for p, b in zip(placed, bodies, strict=True):
        await w.until(p["id"], {"FILLED"} if b["type"] == "MARKET" else {"OPEN"}, 15)
    started = time.monotonic()
    cancels = await asyncio.gather(*(w.cancel(p["id"]) for p in placed[:2]))
    assert all(c.status_code == 200 for c in cancels), [c.text for c in cancels]
    for p in placed[:2]:
        await w.until(p["id"], {"CANCELED"}, 10)
    canceled_after = time.monotonic() - started
    await w.truth(placed=4, final=True, figures={"canceled_after_s": round(canceled_after, 2)})
    assert canceled_after < 10
