"""One validator of the devnet: its mempool, its CometBFT tx cache and its CheckTx state.

Every validator runs CheckTx (`dydx_devnet.ante`, `dydx_devnet.checktx`) against its own *view*:
a copy of the committed chain state with its own memclob, on which its short-term orders match
optimistically, as each node's memclob does on the real chain. The committed state is shared
(`dydx_devnet.engine.Engine` owns it); with one validator the view *is* the committed state.

- The tx cache follows CometBFT (`mempool/clist_mempool.go` CheckTx): a tx whose bytes are in the
  cache is answered "tx already exists in cache" (sdk/19 through cosmos-sdk `CheckCometError`,
  with an empty log) without running CheckTx. dYdX validators keep *rejected* txs in the cache
  too (`KeepInvalidTxsInCache = true`, cache size 5000 x ShortBlockWindow, in
  `protocol/cmd/dydxprotocold/cmd/config.go`: evicting them would let a replay consume the
  signer's rate limit again).
- An accepted tx enters the mempool; the proposer of a block takes its whole mempool.
- After a block, a validator that did not propose it resets its view to the committed state and
  replays the txs of its mempool that the block lacks (the clob's `PrepareCheckState`:
  `RemoveAndClearOperationsQueue`, `PurgeInvalidMemclobState`, `ReplayOperations`; for stateful
  txs CometBFT's recheck). A replay that fails drops the tx from the mempool; it stays cached.
- Only the node the indexer follows (validator 0) publishes off-chain events (the memclob's
  best-effort placements, cancels and fill totals), as the real indexer is fed by one full node.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from dydx_devnet import errors as E
from dydx_devnet.accountplus.nonces import NonceState
from dydx_devnet.checktx import AcceptedOrder, CheckTx, PendingTx
from dydx_devnet.events import (
    Event,
    EventBatch,
    EventBus,
    EventFactory,
    OrderPlaced,
    OrderRemoved,
    OrderReplaced,
    PlacementStatus,
    RemovalReason,
    RemovalStatus,
)
from dydx_devnet.genesis import RateLimit
from dydx_devnet.memclob import Memclob
from dydx_devnet.model import Order, OrderId
from dydx_devnet.state import ChainState
from dydx_devnet.tx import CancelOrderMsg, PubKeyCache, decode_tx, tx_hash

# dYdX's mempool cache: 5000 x ShortBlockWindow (protocol/cmd/dydxprotocold/cmd/config.go).
MEMPOOL_CACHE_SIZE = 5000 * 20


@dataclass(frozen=True, slots=True)
class TxResult:
    tx_hash: str
    code: int = 0
    codespace: str = ""
    raw_log: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 0


@dataclass(frozen=True, slots=True)
class MempoolTx:
    hash: str
    tx_bytes: bytes


class Validator(CheckTx):
    def __init__(
        self,
        index: int,
        state: ChainState,
        bus: EventBus,
        *,
        pub_keys: PubKeyCache,
        accepted: list[AcceptedOrder],
        short_term_limits: tuple[RateLimit, ...],
        stateful_limits: tuple[RateLimit, ...],
    ) -> None:
        self.index = index
        self.state = state
        self.bus = bus
        self.pub_keys = pub_keys
        self.accepted = accepted
        self.short_term_limits = short_term_limits
        self.stateful_limits = stateful_limits
        self.memclob = Memclob(state, self)
        self.mempool_cache: OrderedDict[str, None] = OrderedDict()
        self.mempool: list[MempoolTx] = []
        self.check_sequences: dict[str, int] = {}
        self.nonces: dict[str, NonceState] = {}
        self.rate: dict[tuple[str, str], dict[int, int]] = {}
        self.pending_txs: list[PendingTx] = []
        self.pending_places: dict[OrderId, Order] = {}
        self.pending_cancels: dict[OrderId, CancelOrderMsg] = {}
        self.onchain_events: list[EventFactory] = []
        self.publishes = index == 0  # the node the indexer follows
        self.counting = True
        self.recording = False
        self.in_commit = False
        self._offchain: list[Event] = []
        self._check_time: datetime | None = None  # wall-clock time of the CheckTx in progress

    # ---- event sink (used by this validator's memclob) -----------------------------------------
    def offchain(self, make: EventFactory) -> None:
        if self.in_commit:
            self.onchain_events.append(make)
        elif self.publishes and self.counting:  # not while replaying
            if self._check_time is None:
                self._check_time = datetime.now(UTC)
            self._offchain.append(make(height=self.state.height, time=self._check_time))

    def onchain(self, make: EventFactory) -> None:
        self.onchain_events.append(make)

    def _publish(self, events: list[Event]) -> None:
        if events:
            self.bus.publish(EventBatch(tuple(events)))

    # ---- CheckTx --------------------------------------------------------------------------------
    def check_tx(self, tx_bytes: bytes, *, client: bool = True) -> TxResult:
        """CometBFT's CheckTx: the cache, then the app's CheckTx; ``client`` is False for a tx
        received by gossip (it is not logged as a client's placement)."""
        h = tx_hash(tx_bytes)
        cache = self.mempool_cache
        if h in cache:
            cache.move_to_end(h)  # an LRU (`mempool/cache.go`)
            return TxResult(h, E.ErrTxInMempoolCache.code, E.ErrTxInMempoolCache.codespace, "")
        cache[h] = None
        if len(cache) > MEMPOOL_CACHE_SIZE:
            cache.popitem(last=False)
        self._check_time = None
        self.recording = client
        try:
            self._check(decode_tx(tx_bytes))
        except E.TxError as e:
            self._offchain.clear()
            return TxResult(h, e.code, e.codespace, e.raw_log)
        finally:
            self.recording = False
        if self._offchain:
            self._publish(self._offchain)
            self._offchain = []
        self.mempool.append(MempoolTx(h, tx_bytes))
        return TxResult(h)

    # ---- after a block --------------------------------------------------------------------------
    def take_mempool(self) -> list[MempoolTx]:
        """The proposer takes its whole mempool into the block."""
        taken, self.mempool = self.mempool, []
        return taken

    def reset(
        self,
        committed: ChainState,
        proposer: Validator,
        included: set[str],
        removed_onchain: set[OrderId],
    ) -> None:
        """Start again from the committed state (the proposer's view after the block) and replay
        what this validator holds that the block lacks."""
        remaining = [t for t in self.mempool if t.hash not in included]
        before = self._resting_short_term() if self.publishes else None
        self.state.load_from(committed)
        self.memclob.load_from(proposer.memclob)
        self.nonces = {a: n.copy() for a, n in committed.timestamp_nonces.items()}
        self.check_sequences = {}
        self.pending_txs = []
        self.pending_places = {}
        self.pending_cancels = {}
        self.onchain_events = []
        self.mempool = []
        self.counting = False
        try:
            for t in remaining:
                try:
                    self._check(decode_tx(t.tx_bytes))
                except E.TxError:
                    continue  # invalid now: out of the mempool (kept in the cache)
                self.mempool.append(t)
        finally:
            self.counting = True
        if before is not None:
            self._announce(before, removed_onchain)

    def _resting_short_term(self) -> dict[OrderId, Order]:
        return {
            oid: r.order
            for book in self.state.books.values()
            for oid, r in book.orders.items()
            if oid.is_short_term
        }

    def _announce(self, before: dict[OrderId, Order], removed_onchain: set[OrderId]) -> None:
        """Tell the indexer how this node's memclob changed by the reset: orders it learnt from
        the block's proposer, and orders that are gone without an on-chain removal (e.g. a cancel
        it had not received yet)."""
        after = self._resting_short_term()
        now = datetime.now(UTC)
        h = self.state.height
        events: list[Event] = []
        for oid, order in after.items():
            old = before.get(oid)
            if old is None:
                events.append(
                    OrderPlaced(
                        height=h,
                        time=now,
                        order=order,
                        status=PlacementStatus.BEST_EFFORT_OPENED,
                        tx_hash="",
                    )
                )
            elif old != order:
                events.append(
                    OrderReplaced(height=h, time=now, old_order=old, order=order, tx_hash="")
                )
        for oid in before.keys() - after.keys():
            if oid in removed_onchain:
                continue
            reason = (
                RemovalReason.USER_CANCELED
                if oid in self.memclob.cancels
                else RemovalReason.INTERNAL_ERROR
            )
            make = partial(
                OrderRemoved, order_id=oid, reason=reason, status=RemovalStatus.BEST_EFFORT_CANCELED
            )
            events.append(make(height=h, time=now))
        self._publish(events)

    def prune_rate_limits(self) -> None:
        longest = max(
            [r.num_blocks for r in (*self.short_term_limits, *self.stateful_limits)], default=1
        )
        floor = self.state.height - longest
        for key in list(self.rate):
            per_block = {h: c for h, c in self.rate[key].items() if h > floor}
            if per_block:
                self.rate[key] = per_block
            else:
                del self.rate[key]
