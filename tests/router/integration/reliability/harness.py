"""Tools of the reliability tests: the router as a process with a known wallet, a load generator,
and the results file (``.local/reliability-results.json``) the numbers are quoted from. The faults
they inject (a TCP proxy that can be killed, a PostgreSQL of their own) are in outages.py."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import signal
import statistics
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from bip_utils import Bip39MnemonicGenerator, Bip39WordsNum
from pydantic import SecretStr

from dydx_router.chain.wallet import Wallet
from dydx_router.store.database import asyncpg_dsn
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import RouterProcess, start_router

ROOT = Path(__file__).resolve().parents[4]
RESULTS = ROOT / ".local" / "reliability-results.json"
FINAL = ("FILLED", "CANCELED", "EXPIRED", "REJECTED")


# --- results -----------------------------------------------------------------------------------


def report(name: str, results: dict[str, Any]) -> None:
    """Print the numbers (``pytest -s`` shows them) and keep them in the results file."""
    print(f"\n[reliability] {name}: " + json.dumps(results, indent=2, default=str))
    RESULTS.parent.mkdir(exist_ok=True)
    # Several pytest workers may report at once: read-modify-write under an exclusive lock.
    with RESULTS.with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            everything = json.loads(RESULTS.read_text())
        except (OSError, ValueError):
            everything = {}
        everything[name] = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **results}
        RESULTS.write_text(json.dumps(everything, indent=2, default=str) + "\n")


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50 / p95 / max in milliseconds."""
    if not values:
        return {"p50_ms": None, "p95_ms": None, "max_ms": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


# --- the router --------------------------------------------------------------------------------


def new_mnemonic() -> tuple[str, str]:
    mnemonic = str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24))
    return mnemonic, Wallet.from_mnemonic(SecretStr(mnemonic)).address


async def launch_router(
    devnet: DevnetProcess,
    database_url: str,
    name: str,
    mnemonic: str,
    env: dict[str, str] | None = None,
) -> RouterProcess:
    """``dydx-router serve`` with the given wallet (so a restarted router is the same account).

    In ``account_sequence`` mode unless ``env`` says otherwise: the fault tests are about the
    account sequence (sdk/32, resyncs, a used sequence); the default, timestamp nonces, is
    proven by tests/router/integration/replicas/."""
    return await asyncio.to_thread(
        start_router,
        devnet,
        database_url,
        name,
        {
            "DYDX_ROUTER_SEQUENCE_MODE": "account_sequence",
            "DYDX_ROUTER_MNEMONIC": mnemonic,
            **(env or {}),
        },
    )


def stop_process(router: RouterProcess, sig: int = signal.SIGTERM, wait: float = 30) -> int:
    if router.process.poll() is None:
        router.process.send_signal(sig)
    try:
        return router.process.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        router.process.kill()
        return router.process.wait(timeout=5)


@contextlib.asynccontextmanager
async def db(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        yield conn
    finally:
        await conn.close()


async def order_rows(url: str) -> list[dict[str, Any]]:
    async with db(url) as conn:
        rows = await conn.fetch(
            "SELECT id, status, client_id, clob_pair_id, order_flags, address, subaccount_number, "
            "good_til_block, updated_at FROM orders"
        )
    return [dict(r) for r in rows]


async def wait_settled(url: str, within: float) -> tuple[float, dict[str, int]]:
    """Wait until every order is final; returns the time it took and the status counts."""
    started = time.monotonic()
    while True:
        rows = await order_rows(url)
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        if all(r["status"] in FINAL for r in rows):
            return time.monotonic() - started, counts
        if time.monotonic() - started > within:
            stuck = [r for r in rows if r["status"] not in FINAL][:3]
            raise AssertionError(f"orders not settled after {within} s: {counts}; e.g. {stuck}")
        await asyncio.sleep(0.5)


def chain_order_key(o: dict[str, Any]) -> tuple[Any, ...]:
    """The chain's OrderId of a devnet-accepted order (GET /devnet/orders)."""
    return (o["owner"], o["subaccountNumber"], o["clientId"], o["clobPairId"], o["orderFlags"])


def row_key(r: dict[str, Any]) -> tuple[Any, ...]:
    return (
        r["address"],
        r["subaccount_number"],
        r["client_id"],
        r["clob_pair_id"],
        r["order_flags"],
    )


# --- load --------------------------------------------------------------------------------------


@dataclass
class Outcome:
    started: float
    seconds: float
    status: int  # 0: no HTTP answer (connection refused or cut)
    code: str | None = None
    order_id: str | None = None
    order_status: str | None = None


def _in_flight(resp: httpx.Response) -> bool:
    """409 idempotency_in_flight: the request with this key is still being placed."""
    if resp.status_code != 409:
        return False
    try:
        return bool(resp.json()["error"]["code"] == "idempotency_in_flight")
    except (ValueError, KeyError, TypeError):
        return False


@dataclass
class Load:
    """Orders over HTTP at a fixed concurrency, each outcome recorded with its timing."""

    url: str
    api_key: str
    bodies: Callable[[int], dict[str, Any]]
    concurrency: int = 8
    #: Send an Idempotency-Key per order and resend the same order after a lost connection
    #: (what a careful client does when the router dies under it).
    retry_lost: bool = False
    outcomes: list[Outcome] = field(default_factory=list)
    answers: dict[int, Outcome] = field(default_factory=dict)
    sent: int = 0
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    #: 409 idempotency_in_flight answers resent (retry_lost only).
    in_flight_retries: int = 0
    _waiters: list[tuple[int, asyncio.Event]] = field(default_factory=list)

    async def run(self, *, total: int | None = None, until: asyncio.Event | None = None) -> None:
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=0)
        headers = {"Authorization": f"Bearer {self.api_key}"}
        async with httpx.AsyncClient(headers=headers, timeout=30, limits=limits) as client:

            async def worker() -> None:
                while (total is None or self.sent < total) and not (until and until.is_set()):
                    n = self.sent
                    self.sent += 1
                    await self._one(client, n)

            await asyncio.gather(*(worker() for _ in range(self.concurrency)))

    async def _one(self, client: httpx.AsyncClient, n: int) -> None:
        body = self.bodies(n)
        headers = {"Idempotency-Key": f"{self.run_id}-{n}"} if self.retry_lost else {}
        while True:
            started = time.monotonic()
            try:
                # self.url is read each time: a test may point the clients at a restarted router.
                resp = await client.post(self.url + "/v1/orders", json=body, headers=headers)
            except httpx.TransportError:
                self.outcomes.append(Outcome(started, time.monotonic() - started, 0))
                await asyncio.sleep(0.05)  # the router is down: do not spin
                if not self.retry_lost:
                    return
                continue
            if self.retry_lost and _in_flight(resp):
                # The first copy is still being placed, or was left PENDING by a crash until the
                # reconciler settles it: resend after Retry-After, as the typed client does.
                self.in_flight_retries += 1
                await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))
                continue
            break
        seconds = time.monotonic() - started
        is_json = resp.headers.get("content-type", "").startswith(
            ("application/json", "application/problem+json")
        )
        answer = resp.json() if is_json else {}
        if resp.is_success:
            outcome = Outcome(
                started, seconds, resp.status_code, None, answer["id"], answer["status"]
            )
        else:
            code = answer.get("error", {}).get("code")
            outcome = Outcome(started, seconds, resp.status_code, code)
            if resp.status_code == 503:
                await asyncio.sleep(0.01)  # a client honouring Retry-After loosely
        self.outcomes.append(outcome)
        self.answers[n] = outcome
        for count, event in self._waiters:
            if len(self.answers) >= count:
                event.set()

    async def answered(self, count: int) -> None:
        """Wait until ``count`` orders have an HTTP answer."""
        event = asyncio.Event()
        self._waiters.append((count, event))
        if len(self.answers) >= count:
            event.set()
        await event.wait()

    def between(self, start: float, end: float) -> list[Outcome]:
        return [o for o in self.outcomes if start <= o.started < end]

    def summary(self, outcomes: list[Outcome] | None = None) -> dict[str, Any]:
        items = self.outcomes if outcomes is None else outcomes
        by_status: dict[str, int] = {}
        for o in items:
            key = str(o.status) + (f" {o.code}" if o.code else "")
            by_status[key] = by_status.get(key, 0) + 1
        return {"requests": len(items), "by_status": by_status}


async def market_specs(router: RouterProcess) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(
        base_url=router.url, headers={"Authorization": f"Bearer {router.api_key}"}
    ) as c:
        markets = (await c.get("/v1/markets")).json()["markets"]
    return {m["market"]: m for m in markets}


def resting_orders(
    specs: dict[str, dict[str, Any]], *, market_every: int = 0, good_til_blocks: int = 20
) -> Callable[[int], dict[str, Any]]:
    """Short-term limit orders far from the oracle (they rest, then expire after their blocks),
    alternating BTC/ETH and BUY/SELL; every ``market_every``-th one a small market order."""

    def body(n: int) -> dict[str, Any]:
        spec = specs["BTC-USD" if n % 2 else "ETH-USD"]
        side = "BUY" if (n // 2) % 2 else "SELL"
        size = str(Decimal(spec["min_order_size"]))
        if market_every and n % market_every == 0:
            return {"market": spec["market"], "side": side, "type": "MARKET", "size": size}
        tick = Decimal(spec["tick_size"])
        factor = Decimal("0.5") if side == "BUY" else Decimal("1.5")
        price = (Decimal(spec["oracle_price"]) * factor / tick).to_integral_value(ROUND_DOWN) * tick
        return {
            "market": spec["market"],
            "side": side,
            "type": "LIMIT",
            "size": size,
            "price": str(price),
            "good_til_blocks": good_til_blocks,
            "client_order_id": f"rel-{uuid.uuid4().hex[:12]}",
        }

    return body
