"""Blocks as CometBFT's event bus announces them: `NewBlock`, `NewBlockHeader`,
`NewBlockEvents`, then one `Tx` per delivered tx (`state/execution.go` fireEvents).

While someone waits (a `broadcast_tx_commit` call, a websocket subscription), one task consumes
the devnet's `EventBus` and, for each committed block, wakes the `broadcast_tx_commit` calls
waiting for one of its txs and hands the events to websocket subscribers. With nobody waiting
there is no bus subscription at all, so the RPC costs CheckTx nothing (a subscriber is woken for
every off-chain batch, i.e. every accepted short-term order).

Event data and the ``events`` map follow CometBFT 0.38 (`types/events.go` EventDataNewBlock,
EventDataNewBlockHeader ``{header}``, EventDataNewBlockEvents ``{height, events, num_txs}`` with
both numbers as strings, EventDataTx; `types/event_bus.go` PublishEventTx adds ``tx.hash`` and
``tx.height``; `rpc/core/events.go` sends each as a ResultEvent ``{query, data, events}``).

Queries (`libs/pubsub/query`): conditions ``key='value'`` or ``key=number`` joined by ``AND``,
matched for equality against the event's attributes; that covers ``tm.event='NewBlock'``,
``tm.event='NewBlockHeader'``, ``tm.event='NewBlockEvents'``, ``tm.event='Tx'`` and
``tm.event='Tx' AND tx.hash='...'``. Other operators are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dydx_devnet.cometrpc import encode

if TYPE_CHECKING:
    from dydx_devnet.engine import CommittedTx, Engine
    from dydx_devnet.events import Subscription
    from dydx_devnet.host import DevnetHost

Listener = Callable[[dict[str, list[str]], dict[str, Any]], None]

_CONDITION = re.compile(r"^\s*([\w.\-]+)\s*=\s*(?:'([^']*)'|(-?\d+(?:\.\d+)?))\s*$")
MAX_QUERY_LENGTH = 512  # rpc/core/events.go maxQueryLength


def _conditions(query: str) -> list[tuple[str, str, bool]]:
    """(key, value, value is a quoted string) per condition; raises ValueError."""
    out: list[tuple[str, str, bool]] = []
    for part in query.split(" AND "):
        m = _CONDITION.match(part)
        if m is None:
            raise ValueError(f"failed to parse query: unsupported condition {part.strip()!r}")
        quoted = m.group(2) is not None
        out.append((m.group(1), m.group(2) if quoted else m.group(3), quoted))
    return out


def parse_query(query: str) -> list[tuple[str, str]]:
    """The (key, value) equality conditions of a query to subscribe to; raises ValueError
    (`rpc/core/events.go` Subscribe refuses an over-long query before parsing it)."""
    if len(query) > MAX_QUERY_LENGTH:
        raise ValueError("maximum query length exceeded")
    return [(k, v) for k, v, _ in _conditions(query)]


def canonical(query: str) -> str:
    """The query as `libs/pubsub/query` prints it (`Query.String()`: syntax.go Condition and
    Arg String, ``tag = 'value'`` or ``tag = 5`` joined by `` AND ``): pubsub keys a client's
    subscriptions by it (`libs/pubsub/pubsub.go`), so ``tm.event='Tx'`` and
    ``tm.event = 'Tx'`` are one subscription. Raises ValueError."""
    return " AND ".join(
        f"{k} = '{v}'" if quoted else f"{k} = {v}" for k, v, quoted in _conditions(query)
    )


def matches(conditions: list[tuple[str, str]], events: dict[str, list[str]]) -> bool:
    return all(value in events.get(key, ()) for key, value in conditions)


def finalize_block(engine: Engine, height: int, txs: list[CommittedTx]) -> dict[str, Any]:
    """NewBlock's `abci.ResponseFinalizeBlock` (`abci/types/types.pb.go`), as cmtjson prints it:
    ``events`` (not modelled), ``tx_results`` and ``app_hash`` are omitempty, so an empty block
    has no ``tx_results``; ``validator_updates`` has no omitempty and is always there. The SDK's
    module manager starts EndBlock's updates as an empty slice (cosmos-sdk `types/module/module.go`
    EndBlock: ``validatorUpdates := []abci.ValidatorUpdate{}``) and the in-process app hands that
    slice to CometBFT unchanged, so it prints ``[]`` (cmtjson prints only a nil slice as ``null``,
    `libs/json/encoder.go` encodeReflectList). The tx results are pointers, so they print with
    every field (`encode.abci_result`)."""
    out: dict[str, Any] = {}
    if txs:
        out["tx_results"] = [encode.exec_tx_result(t) for t in txs]
    out["validator_updates"] = []
    out["app_hash"] = encode.b64(encode.stand_in(engine.state.chain_id, "app", height))
    return out


class Feed:
    def __init__(self, devnet: DevnetHost) -> None:
        self.devnet = devnet
        self._sub: Subscription | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiters: dict[str, list[asyncio.Future[int]]] = {}
        self._listeners: set[Listener] = set()

    async def stop(self) -> None:
        if self._sub is not None:
            self._sub.close()
            self._sub = None
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _demand(self) -> None:
        """Subscribe (from now on: a waiter registers before its CheckTx runs)."""
        if self._sub is None:
            self._sub = self.devnet.bus.subscribe()
            task = asyncio.create_task(self._run(self._sub), name="cometrpc-feed")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _release_if_idle(self) -> None:
        if self._sub is not None and not self._waiters and not self._listeners:
            self._sub.close()  # its task ends once it has drained what was published
            self._sub = None

    def wait_for(self, tx_hash: str) -> asyncio.Future[int]:
        """A future for the height of the block that delivers ``tx_hash``."""
        self._demand()
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(tx_hash, []).append(fut)
        return fut

    def forget(self, tx_hash: str, fut: asyncio.Future[int]) -> None:
        waiters = self._waiters.get(tx_hash)
        if waiters and fut in waiters:
            waiters.remove(fut)
            if not waiters:
                del self._waiters[tx_hash]
        self._release_if_idle()

    def add_listener(self, listener: Listener) -> None:
        self._demand()
        self._listeners.add(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.discard(listener)
        self._release_if_idle()

    async def _run(self, sub: Subscription) -> None:
        async for batch in sub:
            if batch.block is not None:
                self._on_block(batch.block.height, batch.block.tx_hashes)

    def _on_block(self, height: int, tx_hashes: tuple[str, ...]) -> None:
        for h in tx_hashes:
            for fut in self._waiters.pop(h, []):
                if not fut.done():
                    fut.set_result(height)
        if not self._listeners:
            return
        engine = self.devnet.engine
        b = encode.block(engine, height)
        txs = encode.block_txs(engine, height)
        new_block = {
            "type": "tendermint/event/NewBlock",
            "value": {
                "block": b["block"],
                "block_id": b["block_id"],
                "result_finalize_block": finalize_block(engine, height, txs),
            },
        }
        self._emit({"tm.event": ["NewBlock"]}, new_block)
        header = {
            "type": "tendermint/event/NewBlockHeader",
            "value": {"header": b["block"]["header"]},
        }
        self._emit({"tm.event": ["NewBlockHeader"]}, header)
        # FinalizeBlock's own events are not modelled (as in block_results: an empty list).
        block_events = {
            "type": "tendermint/event/NewBlockEvents",
            "value": {"height": str(height), "events": [], "num_txs": str(len(txs))},
        }
        self._emit({"tm.event": ["NewBlockEvents"]}, block_events)
        for i, t in enumerate(txs):
            data = {
                "type": "tendermint/event/Tx",
                "value": {
                    # abci.TxResult: index is `json:"index,omitempty"`, so the first tx has none
                    "TxResult": {
                        "height": str(height),
                        **({"index": i} if i else {}),
                        "tx": encode.b64(t.tx_bytes),
                        "result": encode.omit_empty(encode.exec_tx_result(t)),
                    }
                },
            }
            self._emit({"tm.event": ["Tx"], "tx.hash": [t.hash], "tx.height": [str(height)]}, data)

    def _emit(self, events: dict[str, list[str]], data: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            listener(events, data)
