"""The devnet's chain: its validators, the committed state, blocks, accounts and funding.

- ``validators``: N validators (`dydx_devnet.validator.Validator`), each with its own mempool,
  tx cache and CheckTx view. A client's tx goes to one of them (`broadcast`); once accepted it is
  gossiped to the others after the gossip delay (``schedule``; immediate when no scheduler is
  set), where it runs CheckTx again (`mempool/reactor.go` hands it to the peer's CheckTx).
- Blocks (`commit_block`): the proposer of height h is validator h mod N. It builds the block on
  its own view: oracle update, the fills its memclob matched since the last block (its
  operations queue), the stateful txs it holds (they consume their sequence), expiry of
  short-term orders (GTB <= height) and stateful orders (GTBT <= block time), conditional
  triggers, market-maker quotes; then one on-chain `EventBatch` ending with `BlockCommitted`.
  Its view becomes the committed state (`state`); every other validator resets its view to it
  and replays what the block lacks (`Validator.reset`), so a fill is applied once, by the block.
- With one validator its view *is* the committed state: nothing is copied.

The CheckTx rules themselves: `dydx_devnet.ante` and `dydx_devnet.checktx`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cache, partial

from bip_utils import Ed25519PrivateKey

from dydx_devnet import errors as E
from dydx_devnet.blocks import BlockSteps
from dydx_devnet.checktx import AcceptedOrder
from dydx_devnet.events import (
    BlockCommitted,
    EventBatch,
    EventBus,
    OrderRemoved,
    SubaccountUpdated,
    Transfer,
    TransferKind,
)
from dydx_devnet.memclob import Memclob
from dydx_devnet.model import ClobPairStatus, OrderId, SubaccountId
from dydx_devnet.simulation import MM_USDC, OracleWalk, market_maker_address
from dydx_devnet.state import AccountRecord, ChainState, SubaccountRecord
from dydx_devnet.tx import PubKeyCache, address_error, decode_tx
from dydx_devnet.validate import validate_basic
from dydx_devnet.validator import TxResult, Validator

__all__ = ["AcceptedOrder", "BlockRecord", "CommittedTx", "Engine", "TxResult"]

BLOCKS_KEPT = 10_000  # block headers served by GetBlockByHeight


@dataclass(frozen=True, slots=True)
class CommittedTx:
    tx_bytes: bytes
    hash: str
    height: int
    time_ms: int
    gas_wanted: int
    # DeliverTx's result: a failed message leaves the tx in its block with its error
    codespace: str = ""
    code: int = 0
    raw_log: str = ""


@dataclass(frozen=True, slots=True)
class BlockRecord:
    height: int
    time_ms: int
    proposer: int  # validator index
    txs: tuple[str, ...]  # stateful txs delivered (hashes, in order)
    operations: tuple[str, ...]  # short-term txs the proposer's memclob held (hashes)


@cache
def validator_pubkey(index: int) -> bytes:
    """Validator ``index``'s ed25519 consensus public key (32 bytes), from a fixed seed."""
    seed = hashlib.sha256(f"dydx-devnet-validator-{index}".encode()).digest()
    # RawCompressed is 0x00 + the 32-byte key (bip_utils' ed25519 encoding).
    return bytes(Ed25519PrivateKey.FromBytes(seed).PublicKey().RawCompressed().ToBytes()[1:])


def validator_address(index: int) -> bytes:
    """Validator ``index``'s consensus address (block proposer_address): the first 20 bytes of
    sha256 of its ed25519 public key (CometBFT `crypto/ed25519` PubKey.Address)."""
    return hashlib.sha256(validator_pubkey(index)).digest()[:20]


class Engine:
    def __init__(
        self,
        state: ChainState,
        bus: EventBus,
        *,
        seed: int = 0,
        market_makers: bool = True,
        oracle_walk: bool = True,
        validators: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if validators < 1:
            raise ValueError("validators must be >= 1")
        self.state = state
        self.bus = bus
        self.seed = seed
        self.clock = clock
        self.committed_txs: dict[str, CommittedTx] = {}
        self.accepted_orders: list[AcceptedOrder] = []
        self.block_times: dict[int, int] = {}  # height -> block time (ms), the last few
        self.blocks: dict[int, BlockRecord] = {}
        # Gossip: called with a thunk to run after the gossip delay (the app sets it).
        self.schedule: Callable[[Callable[[], None]], None] | None = None
        pub_keys = PubKeyCache()
        limits = state.genesis.block_rate_limits
        self.validators = [
            Validator(
                i,
                # one validator: its view is the committed state itself
                state if validators == 1 else _copy(state),
                bus,
                pub_keys=pub_keys,
                accepted=self.accepted_orders,
                short_term_limits=limits.max_short_term_orders_and_cancels_per_n_blocks,
                stateful_limits=limits.max_stateful_orders_per_n_blocks,
            )
            for i in range(validators)
        ]
        self.market_maker = market_maker_address(seed) if market_makers else None
        self.steps = BlockSteps(
            seed, OracleWalk(seed, state.prices) if oracle_walk else None, self.market_maker
        )
        if self.market_maker is not None:
            self.fund(self.market_maker, 0, Decimal(MM_USDC))

    @property
    def memclob(self) -> Memclob:
        """Validator 0's memclob (with one validator: the committed one)."""
        return self.validators[0].memclob

    def _views(self) -> list[ChainState]:
        """The committed state and every validator's view (once each)."""
        out = [self.state]
        out += [v.state for v in self.validators if v.state is not self.state]
        return out

    # ---- accounts -----------------------------------------------------------------------------
    def fund(self, address: str, subaccount_number: int, usdc: Decimal) -> SubaccountId:
        """Deposit ``usdc`` (rounded down to 1e-6) into a subaccount, creating the account and
        subaccount if needed, in the committed state and every validator's view. The deposit
        appears in the next block's events."""
        err = address_error(address)
        if err is not None:
            raise ValueError(f"invalid address {address!r}: {err}")
        if usdc < 0:
            raise ValueError("usdc must be non-negative")
        quantums = int(usdc.scaleb(6))
        sid = SubaccountId(address, subaccount_number)
        for st in self._views():
            _deposit(st, sid, quantums)
        for v in self.validators:
            rec = v.state.subaccount_records[sid]
            transfer = partial(
                Transfer,
                kind=TransferKind.DEPOSIT,
                sender=None,
                recipient=sid,
                asset_id=0,
                quantums=quantums,
                tx_hash="",
            )
            v.onchain_events.append(transfer)
            v.onchain_events.append(partial(SubaccountUpdated, subaccount=rec.snapshot()))
        return sid

    def set_oracle_price(self, market_id: int, price: int) -> None:
        """Publish ``price`` (in the market's oracle exponent) in the next block."""
        if market_id not in self.state.prices:
            raise KeyError(market_id)
        if price <= 0:
            raise ValueError("price must be positive")
        self.steps.oracle_overrides[market_id] = price
        if self.steps.oracle is not None:
            self.steps.oracle.set(market_id, price)

    def set_clob_pair_status(self, clob_pair_id: int, status: ClobPairStatus) -> None:
        m = self.state.market(clob_pair_id)
        if m is None:
            raise KeyError(clob_pair_id)
        for st in self._views():
            st.set_market(replace(m, clob_pair=replace(m.clob_pair, status=status)))

    def set_smart_account_active(self, active: bool) -> None:
        """x/accountplus `MsgSetActiveState` (`keeper/msg_server.go`, authority only), applied
        at once to the committed state and every validator's view: governance is not modelled,
        a proposal would take effect in a block."""
        for st in self._views():
            st.authenticators.smart_account_active = active

    def next_sequence(self, address: str, validator: int = 0) -> int | None:
        """The sequence the next stateful tx of ``address`` must carry at that validator: the
        committed one plus the stateful txs it accepted since the last block (None for an
        unknown account)."""
        v = self.validators[validator]
        acc = v.state.accounts.get(address)
        if acc is None:
            return None
        return v.check_sequences.get(address, acc.sequence)

    # ---- CheckTx --------------------------------------------------------------------------------
    def check_tx(self, tx_bytes: bytes) -> TxResult:
        """A client's broadcast to validator 0."""
        return self.broadcast(0, tx_bytes)

    def broadcast(self, validator: int, tx_bytes: bytes) -> TxResult:
        """A client's tx to ``validator``: its CheckTx result; once accepted the tx is gossiped."""
        r = self.validators[validator].check_tx(tx_bytes)
        if r.ok and len(self.validators) > 1:
            gossip = partial(self._gossip, validator, tx_bytes)
            if self.schedule is None:
                gossip()
            else:
                self.schedule(gossip)
        return r

    def _gossip(self, origin: int, tx_bytes: bytes) -> None:
        for v in self.validators:
            if v.index != origin:
                v.check_tx(tx_bytes, client=False)  # a duplicate is dropped by the cache

    def simulate(self, tx_bytes: bytes) -> int:
        """Simulate: decode and ValidateBasic only. Clob txs run on the free infinite gas meter
        (`app/ante/gas.go`), so the gas used is 0. Raises TxError."""
        tx = decode_tx(tx_bytes)
        if not tx.msgs:
            raise E.ErrInvalidRequest.wrap("must contain at least one message")
        for m in tx.msgs:
            validate_basic(m)
        return 0

    # ---- blocks -------------------------------------------------------------------------------
    def proposer(self, height: int) -> Validator:
        return self.validators[height % len(self.validators)]

    def commit_block(self, now_ms: int | None = None) -> int:
        """Produce the next block on its proposer's view; returns its height."""
        height = self.state.height + 1
        p = self.proposer(height)
        st = p.state
        if now_ms is None:
            now_ms = int(self.clock() * 1000)
        steps = self.steps
        p.in_commit = True
        try:
            st.height = height
            st.block_time_ms = max(now_ms, self.state.block_time_ms + 1)
            self.block_times[height] = st.block_time_ms
            self.block_times.pop(height - BLOCKS_KEPT, None)
            steps.update_oracle(p, height)
            tx_hashes: list[str] = []
            pending, p.pending_txs = p.pending_txs, []
            p.pending_places.clear()
            p.pending_cancels.clear()
            for ptx in pending:
                failed = steps.deliver(p, ptx)
                tx_hashes.append(ptx.tx.hash)
                self.committed_txs[ptx.tx.hash] = CommittedTx(
                    ptx.tx.tx_bytes,
                    ptx.tx.hash,
                    height,
                    st.block_time_ms,
                    ptx.tx.gas_limit,
                    *((failed.codespace, failed.code, failed.raw_log) if failed else ()),
                )
            # the check state starts again from what the block wrote (a tx refused by the
            # block's ante consumed no sequence or nonce: `ante.ante_in_block`)
            p.check_sequences.clear()
            p.nonces = {a: n.copy() for a, n in st.timestamp_nonces.items()}
            p.memclob.end_block(height)
            steps.expire_stateful(p)
            steps.trigger_conditionals(p)
            steps.quote_market_makers(p, height)
            for v in self.validators:
                v.prune_rate_limits()
            block_time = st.block_time
            events = [make(height=height, time=block_time) for make in p.onchain_events]
            p.onchain_events = []
            block = BlockCommitted(height, block_time, tuple(tx_hashes))
            events.append(block)
        finally:
            p.in_commit = False
        taken = p.take_mempool()
        delivered = set(tx_hashes)
        self.blocks[height] = BlockRecord(
            height,
            st.block_time_ms,
            p.index,
            tuple(tx_hashes),
            tuple(t.hash for t in taken if t.hash not in delivered),
        )
        self.blocks.pop(height - BLOCKS_KEPT, None)
        if len(self.validators) > 1:
            self._reconcile(p, {t.hash for t in taken}, tx_hashes, events)
        self.bus.publish(EventBatch(tuple(events), block))
        return height

    def _reconcile(
        self, p: Validator, included: set[str], tx_hashes: list[str], events: Sequence[object]
    ) -> None:
        """The proposer's view becomes the committed state; the others start again from it."""
        self.state.load_from(p.state)
        removed: set[OrderId] = {e.order_id for e in events if isinstance(e, OrderRemoved)}
        for v in self.validators:
            # CometBFT `Update`: committed txs enter every node's cache.
            for h in tx_hashes:
                v.mempool_cache[h] = None
            if v is not p:
                v.reset(self.state, p, included, removed)

    def block_hash(self, height: int) -> bytes:
        """A stand-in block hash: sha256 of chain id, height and block time."""
        t = self.block_times.get(height, 0)
        return hashlib.sha256(f"{self.state.chain_id}:{height}:{t}".encode()).digest()


def _copy(state: ChainState) -> ChainState:
    out = ChainState(state.genesis, state.genesis_time_ms)
    out.load_from(state)
    return out


def _deposit(st: ChainState, sid: SubaccountId, quantums: int) -> None:
    if sid.owner not in st.accounts:
        st.accounts[sid.owner] = AccountRecord(sid.owner, st.next_account_number)
        st.next_account_number += 1
    rec = st.subaccount_records.get(sid)
    if rec is None:
        rec = st.subaccount_records[sid] = SubaccountRecord(sid)
    rec.usdc += quantums
