"""One case of the fault matrix: a router process on its own database and wallet, against the
package's three-validator devnet, driven over HTTP; kill -9 and restart it; and the final truth
check every case ends with (:meth:`World.truth`).

The truth check is the audit's comparison (``tests/fixtures/audit.py``, ``dydx-router audit``)
of every stored order with the chain (indexer and node), plus what the chain itself accepted
(``GET /devnet/orders``): every OrderId the chain holds is a stored order, and, where the case
knows it, exactly that many orders were placed (each placed once, never under a second id).
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from dydx_router.domain.audit import AuditRules
from dydx_router.service.audit import AuditReport
from tests.fixtures.audit import audit_at
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import RouterProcess
from tests.router.integration.reliability.harness import (
    FINAL,
    chain_order_key,
    db,
    launch_router,
    market_specs,
    order_rows,
    report,
    row_key,
    stop_process,
)
from tests.router.integration.reliability.truth import far_limit, history, market

#: Every router of the matrix: all three validators, the reconciler every half second.
BASE_ENV = {"DYDX_ROUTER_RECONCILE_INTERVAL_S": "0.5", "DYDX_ROUTER_GOOD_TIL_BLOCK_OFFSET": "20"}
#: The truth check reads the indexer's REST, which the router's stream may trail by an instant;
#: a second of grace, no more (the audit command allows 10).
RULES = AuditRules(grace=timedelta(seconds=1), expiry_blocks=10)
HOLD_S = 30.0


@dataclass
class World:
    devnet: DevnetProcess
    database_url: str
    mnemonic: str
    address: str
    name: str
    router: RouterProcess | None = None
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _logs: list[str] = field(default_factory=list)
    _starts: int = 0
    _started_at: float = 0.0

    # --- the router process ---------------------------------------------------------------
    async def start(
        self, holds: dict[str, float] | None = None, env: dict[str, str] | None = None
    ) -> RouterProcess:
        """``dydx-router serve`` on every validator, with fault holds (service/faults.py)."""
        self._starts += 1
        extra = {**BASE_ENV, "DYDX_ROUTER_NODE_ENDPOINTS": self.devnet.node_endpoints}
        if holds:
            extra["DYDX_ROUTER_FAULT_HOLDS"] = json.dumps(holds)
        extra.update(env or {})
        name = f"matrix-{self.name}-{self._starts}"
        self.router = await launch_router(
            self.devnet, self.database_url, name, self.mnemonic, extra
        )
        self._started_at = time.monotonic()
        if not self.specs:
            self.specs = await market_specs(self.router)
        return self.router

    def kill(self) -> None:
        """kill -9: no shutdown, no flush, whatever was in flight is cut."""
        router = self.live
        router.process.send_signal(signal.SIGKILL)
        stop_process(router)
        self._logs.append(router.log_tail(1_000_000))

    def stop(self) -> None:
        if self.router is not None and self.router.process.poll() is None:
            stop_process(self.router)
            self._logs.append(self.router.log_tail(1_000_000))

    @property
    def live(self) -> RouterProcess:
        assert self.router is not None, "no router started"
        return self.router

    def log(self) -> str:
        """Every log line of every router this case started."""
        current = self.router.log_tail(1_000_000) if self.router is not None else ""
        return "\n".join([*self._logs, current])

    async def held_at(self, step: str, within: float = 20) -> None:
        """Wait until the router is holding at ``step`` (its ``fault_hold`` log line)."""
        deadline = time.monotonic() + within
        while f'"step":"{step}"' not in self.live.log_tail(1_000_000):
            assert time.monotonic() < deadline, f"never held at {step}:\n{self.live.log_tail()}"
            await asyncio.sleep(0.05)

    # --- HTTP -------------------------------------------------------------------------------
    def client(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.live.api_key}"}
        return httpx.AsyncClient(base_url=self.live.url, headers=headers, timeout=30)

    async def place(self, body: dict[str, Any]) -> dict[str, Any]:
        async with self.client() as c:
            resp = await c.post("/v1/orders", json=body)
        assert resp.status_code in (201, 202), resp.text
        placed: dict[str, Any] = resp.json()
        return placed

    async def cancel(self, order_id: str) -> httpx.Response:
        async with self.client() as c:
            return await c.delete(f"/v1/orders/{order_id}")

    async def order(self, order_id: str) -> dict[str, Any]:
        async with self.client() as c:
            resp = await c.get(f"/v1/orders/{order_id}")
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    async def until(self, order_id: str, statuses: Iterable[str], within: float = 30) -> Any:
        wanted = set(statuses)
        deadline = time.monotonic() + within
        while True:
            body = await self.order(order_id)
            if body["status"] in wanted:
                return body
            assert time.monotonic() < deadline, (
                f"{order_id} still {body['status']} (history {history(body)}), wanted {wanted}"
            )
            await asyncio.sleep(0.1)

    async def set_trading_state(self, state: str) -> None:
        async with self.client() as c:
            resp = await c.post(
                "/v1/admin/trading-state", json={"state": state, "reason": "fault matrix"}
            )
        assert resp.status_code == 200, resp.text

    async def halt_offline(self) -> None:
        """HALTED written while no router runs (an operator's decision during the outage)."""
        async with db(self.database_url) as conn:
            await conn.execute(
                "UPDATE trading_state SET state = 'HALTED', reason = 'matrix' WHERE id = 1"
            )

    # --- bodies -----------------------------------------------------------------------------
    def resting(self, kind: str, side: str = "BUY", subaccount: int = 0) -> dict[str, Any]:
        """A limit order far from the oracle (it rests): short-term for ``good_til_blocks``
        blocks, or stateful for ten minutes."""
        when: dict[str, Any] = (
            {"good_til_blocks": 20} if kind == "short" else {"good_til_seconds": 600}
        )
        return far_limit(self.specs["BTC-USD"], side, subaccount=subaccount, **when)

    def market(self, side: str = "BUY", subaccount: int = 0) -> dict[str, Any]:
        return {**market(self.specs["BTC-USD"], side), "subaccount": subaccount}

    # --- the truth --------------------------------------------------------------------------
    async def rows(self) -> list[dict[str, Any]]:
        return await order_rows(self.database_url)

    async def chain_placements(self) -> set[tuple[Any, ...]]:
        """The OrderIds the chain accepted from this wallet (a tx accepted by two validators
        before gossip is one OrderId)."""
        accepted = await self.devnet.accepted_orders(owner=self.address)
        return {chain_order_key(o) for o in accepted}

    async def truth(
        self,
        *,
        placed: int | None = None,
        within: float = 30,
        final: bool = False,
        figures: dict[str, Any] | None = None,
    ) -> AuditReport:
        """Fail on any stored order the chain contradicts. Waits (up to ``within``) until the
        chain can decide every order (nothing indeterminate; with ``final``, every order in a
        final status), then checks the audit found no disagreement at any read, every OrderId on
        the chain is a stored order, and, when given, that ``placed`` orders reached the chain.
        ``figures``: the case's own numbers, reported with the check's."""
        began = time.monotonic()
        deadline = began + within
        seen_disagreeing: list[str] = []
        reads = 0
        while True:
            audit = await audit_at(
                self.database_url,
                self.devnet.node_endpoints.split(","),
                [self.devnet.indexer],
                rules=RULES,
            )
            at = f"read {reads} at +{time.monotonic() - began:.1f} s"
            seen_disagreeing += [f"{_describe(a)} ({at})" for a in audit.disagreements]
            reads += 1
            rows = await self.rows()
            settled = not audit.indeterminate and (
                not final or all(r["status"] in FINAL for r in rows)
            )
            if settled or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
        on_chain = await self.chain_placements()
        stored = {row_key(r) for r in rows}
        report(
            f"matrix_{self.name}",
            {
                "router_starts": self._starts,
                "agreed_s_after_last_start": round(time.monotonic() - self._started_at, 2),
                "audit_reads": reads,
                "orders": len(rows),
                "statuses": sorted(r["status"] for r in rows),
                "placed_on_chain": len(on_chain),
                "disagreements": seen_disagreeing,
                "indeterminate": [_describe(a) for a in audit.indeterminate],
                **(figures or {}),
            },
        )
        assert not seen_disagreeing, seen_disagreeing
        assert not audit.indeterminate, [_describe(a) for a in audit.indeterminate]
        if final:
            assert all(r["status"] in FINAL for r in rows), [r["status"] for r in rows]
        assert on_chain <= stored, f"on chain but not stored: {on_chain - stored}"
        if placed is not None:
            assert len(on_chain) == placed, (len(on_chain), placed)
        return audit


def _describe(a: Any) -> str:
    o = a.order
    return f"{o.id} {o.status} ({'short' if o.is_short_term else 'stateful'}): {a.finding.reason}"
