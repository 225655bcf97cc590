"""The devnet's chain engine: CheckTx in the chain's order, blocks, accounts, funding.

CheckTx of a clob tx (`protocol/app/ante.go`, ``clobAnteHandle``; PROTOCOL.md §10):

1. decode (sdk/2); every message's ValidateBasic (clob/subaccounts codes) — baseapp runs these
   before the ante handler;
2. tx basics: signatures present (sdk/15) and one per signer (sdk/4); timeout height (sdk/30);
   memo length (sdk/12);
3. replay protection (`app/ante/replay_protection.go`): unless every message is short-term, the
   signer's sequence must equal the account's (sdk/32 "account sequence mismatch, expected X,
   got Y"), or be a timestamp nonce (>= 2^40, `x/accountplus`);
4. signature (`app/ante/sigverify.go`): the pubkey from SignerInfo must hash to the signer
   (sdk/8) and is stored on the account; SIGN_MODE_DIRECT over SignDoc with the account number
   and chain id (sdk/4);
5. a short-term message must be alone in its tx (sdk/18, `x/clob/ante/clob.go`
   IsShortTermClobMsgTx);
6. the sequence increments for stateful txs that are not timestamp-nonce txs;
7. per-account block rate limits (clob/5001; counted even when a later check fails, as the chain's
   in-memory limiter does);
8. stateful validation and the memclob (clob codes).

Steps 3-6 write to a "check state" that is kept only when the whole tx succeeds. Success is code
0. Accepted txs enter the mempool cache: identical bytes again give sdk/19.

Blocks (`commit_block`): oracle update, fills matched since the last block, the stateful txs
accepted since the last block (cancels, placements; they consume their sequence), expiry of
short-term orders (GTB <= height) and stateful orders (GTBT <= block time), conditional
triggers, market-maker quotes; then one on-chain `EventBatch` ending with `BlockCommitted`.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

from dydx_devnet import errors as E
from dydx_devnet.book import RestingOrder
from dydx_devnet.events import (
    BlockCommitted,
    Event,
    EventBatch,
    EventBus,
    OraclePriceUpdated,
    OrderPlaced,
    OrderRemoved,
    OrderTriggered,
    PlacementStatus,
    RemovalReason,
    RemovalStatus,
    SubaccountUpdated,
    Transfer,
    TransferKind,
)
from dydx_devnet.genesis import SHORT_BLOCK_WINDOW, STATEFUL_ORDER_TIME_WINDOW_S, RateLimit
from dydx_devnet.memclob import EventFactory, Memclob
from dydx_devnet.model import (
    ClobPairStatus,
    ConditionType,
    Market,
    MarketPrice,
    Order,
    OrderFlags,
    OrderId,
    Side,
    SubaccountId,
    TimeInForce,
)
from dydx_devnet.risk import Risk, is_valid_transition, risk_of
from dydx_devnet.simulation import (
    MM_LEVELS,
    MM_REQUOTE_AFTER,
    MM_USDC,
    OracleWalk,
    ladder,
    market_maker_address,
    should_publish,
)
from dydx_devnet.state import AccountRecord, ChainState, SubaccountRecord
from dydx_devnet.tx import (
    SIGN_MODE_DIRECT,
    CancelOrderMsg,
    DecodedTx,
    Msg,
    PlaceOrderMsg,
    PubKeyCache,
    address_error,
    address_of,
    decode_tx,
    sign_doc_bytes,
    tx_hash,
    verify_signature,
)
from dydx_devnet.validate import (
    go_order,
    go_order_id,
    go_subaccount_id,
    is_short_term_msg,
    validate_basic,
)

TIMESTAMP_NONCE_CUTOFF = 1 << 40  # x/accountplus/keeper/timestampnonce.go
MAX_TIME_IN_PAST_MS = 30_000
MAX_TIME_IN_FUTURE_MS = 30_000
MAX_TIMESTAMP_NONCES = 20
MAX_MEMO_CHARACTERS = 256  # auth params at genesis
TX_SIG_LIMIT = 7
BATCH_CANCEL_RATE_LIMIT_WEIGHT = 2  # x/clob/rate_limit/order_rate_limiter.go
MEMPOOL_CACHE_SIZE = 10_000  # CometBFT mempool.cache_size default
BLOCKS_KEPT = 10_000  # block headers served by GetBlockByHeight


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
class CommittedTx:
    tx_bytes: bytes
    hash: str
    height: int
    time_ms: int
    gas_wanted: int


@dataclass(frozen=True, slots=True)
class AcceptedOrder:
    """One accepted MsgPlaceOrder (admin API: proves no order was placed twice)."""

    order_id: OrderId
    good_til_block: int
    good_til_block_time: int
    tx_hash: str
    height: int  # latest committed height when accepted
    side: Side
    quantums: int
    subticks: int


@dataclass(slots=True)
class _NonceState:
    nonces: list[int] = field(default_factory=list)
    max_ejected: int = 0


@dataclass(slots=True)
class _PendingTx:
    tx: DecodedTx
    places: list[Order]
    cancels: list[CancelOrderMsg]


class _CheckState:
    """Writes of one CheckTx, applied only if the tx succeeds (the ante's cache store)."""

    __slots__ = ("nonces", "pub_keys", "sequences")

    def __init__(self) -> None:
        self.sequences: dict[str, int] = {}
        self.pub_keys: dict[str, bytes] = {}
        self.nonces: dict[str, _NonceState] = {}


class Engine:
    def __init__(
        self,
        state: ChainState,
        bus: EventBus,
        *,
        seed: int = 0,
        market_makers: bool = True,
        oracle_walk: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.bus = bus
        self.seed = seed
        self.clock = clock
        self.memclob = Memclob(state, self)
        self.pub_keys = PubKeyCache()
        self.mempool_cache: OrderedDict[str, None] = OrderedDict()
        self.committed_txs: dict[str, CommittedTx] = {}
        self.accepted_orders: list[AcceptedOrder] = []
        self.block_times: dict[int, int] = {}  # height -> block time (ms), the last few
        self._check_sequences: dict[str, int] = {}  # check-state sequences (uncommitted)
        self._nonces: dict[str, _NonceState] = {}
        self._rate: dict[tuple[str, str], dict[int, int]] = {}
        self._pending_txs: list[_PendingTx] = []
        self._pending_places: dict[OrderId, Order] = {}
        self._pending_cancels: dict[OrderId, CancelOrderMsg] = {}
        self._onchain: list[EventFactory] = []
        self._offchain: list[Event] = []
        self._in_commit = False
        self._check_time: datetime | None = None  # wall-clock time of the CheckTx in progress
        self.oracle = OracleWalk(seed, state.prices) if oracle_walk else None
        self._oracle_overrides: dict[int, int] = {}
        self.market_maker = market_maker_address(seed) if market_makers else None
        self._mm_quoted: dict[int, tuple[int, int]] = {}  # clob id -> (height, oracle price)
        limits = state.genesis.block_rate_limits
        self.short_term_limits = limits.max_short_term_orders_and_cancels_per_n_blocks
        self.stateful_limits = limits.max_stateful_orders_per_n_blocks
        if self.market_maker is not None:
            self.fund(self.market_maker, 0, Decimal(MM_USDC))

    # ---- event sink (used by the memclob) -----------------------------------------------------
    def offchain(self, make: EventFactory) -> None:
        if self._in_commit:
            self._onchain.append(make)
        else:
            if self._check_time is None:
                self._check_time = datetime.now(UTC)
            self._offchain.append(make(height=self.state.height, time=self._check_time))

    def onchain(self, make: EventFactory) -> None:
        self._onchain.append(make)

    def _flush_offchain(self) -> None:
        if self._offchain:
            self.bus.publish(EventBatch(tuple(self._offchain)))
            self._offchain = []

    # ---- accounts -----------------------------------------------------------------------------
    def _account(self, address: str) -> AccountRecord:
        acc = self.state.accounts.get(address)
        if acc is None:
            acc = AccountRecord(address, self.state.next_account_number)
            self.state.next_account_number += 1
            self.state.accounts[address] = acc
        return acc

    def fund(self, address: str, subaccount_number: int, usdc: Decimal) -> SubaccountId:
        """Deposit ``usdc`` (rounded down to 1e-6) into a subaccount, creating the account and
        subaccount if needed. The deposit appears in the next block's events."""
        err = address_error(address)
        if err is not None:
            raise ValueError(f"invalid address {address!r}: {err}")
        if usdc < 0:
            raise ValueError("usdc must be non-negative")
        quantums = int(usdc.scaleb(6))
        self._account(address)
        sid = SubaccountId(address, subaccount_number)
        rec = self.state.subaccount_records.get(sid)
        if rec is None:
            rec = self.state.subaccount_records[sid] = SubaccountRecord(sid)
        rec.usdc += quantums
        snapshot = rec.snapshot()
        self._onchain.append(
            partial(
                Transfer,
                kind=TransferKind.DEPOSIT,
                sender=None,
                recipient=sid,
                asset_id=0,
                quantums=quantums,
                tx_hash="",
            )
        )
        self._onchain.append(partial(SubaccountUpdated, subaccount=snapshot))
        return sid

    def set_oracle_price(self, market_id: int, price: int) -> None:
        """Publish ``price`` (in the market's oracle exponent) in the next block."""
        if market_id not in self.state.prices:
            raise KeyError(market_id)
        if price <= 0:
            raise ValueError("price must be positive")
        self._oracle_overrides[market_id] = price
        if self.oracle is not None:
            self.oracle.set(market_id, price)

    def set_clob_pair_status(self, clob_pair_id: int, status: ClobPairStatus) -> None:
        m = self.state.market(clob_pair_id)
        if m is None:
            raise KeyError(clob_pair_id)
        self.state.set_market(replace(m, clob_pair=replace(m.clob_pair, status=status)))

    def next_sequence(self, address: str) -> int | None:
        """The sequence the next stateful tx of ``address`` must carry: the committed one plus
        the stateful txs accepted since the last block (None for an unknown account)."""
        acc = self.state.accounts.get(address)
        if acc is None:
            return None
        return self._check_sequences.get(address, acc.sequence)

    # ---- CheckTx --------------------------------------------------------------------------------
    def check_tx(self, tx_bytes: bytes) -> TxResult:
        h = tx_hash(tx_bytes)
        if h in self.mempool_cache:
            # CometBFT rejects a tx it has seen before; the SDK reports it without a log
            # (`CheckCometError`).
            return TxResult(h, E.ErrTxInMempoolCache.code, E.ErrTxInMempoolCache.codespace, "")
        self._check_time = None
        try:
            tx = decode_tx(tx_bytes)
            self._check(tx)
        except E.TxError as e:
            self._offchain.clear()
            return TxResult(h, e.code, e.codespace, e.raw_log)
        self._flush_offchain()
        self.mempool_cache[h] = None
        if len(self.mempool_cache) > MEMPOOL_CACHE_SIZE:
            self.mempool_cache.popitem(last=False)
        return TxResult(h)

    def simulate(self, tx_bytes: bytes) -> int:
        """Simulate: decode and ValidateBasic only. Clob txs run on the free infinite gas meter
        (`app/ante/gas.go`), so the gas used is 0. Raises TxError."""
        tx = decode_tx(tx_bytes)
        if not tx.msgs:
            raise E.ErrInvalidRequest.wrap("must contain at least one message")
        for m in tx.msgs:
            validate_basic(m)
        return 0

    def _check(self, tx: DecodedTx) -> None:
        if not tx.msgs:
            raise E.ErrInvalidRequest.wrap("must contain at least one message")
        for m in tx.msgs:
            validate_basic(m)
        for m in tx.msgs:
            if isinstance(m, PlaceOrderMsg) and m.order.order_id.order_flags not in (
                OrderFlags.SHORT_TERM,
                OrderFlags.CONDITIONAL,
                OrderFlags.LONG_TERM,
            ):
                raise E.ErrInvalidRequest.wrap("TWAP orders are not supported by the devnet")
        signers = tx.signers
        if not tx.signatures:
            raise E.ErrNoSignatures.bare()
        if len(tx.signatures) != len(signers):
            raise E.ErrUnauthorized.wrap(
                f"wrong number of signers; expected {len(signers)}, got {len(tx.signatures)}"
            )
        if len(tx.signer_infos) != len(signers):
            raise E.ErrUnauthorized.wrap(
                f"invalid number of signer;  expected: {len(signers)}, got {len(tx.signer_infos)}"
            )
        height = self.state.height
        if tx.timeout_height and height > tx.timeout_height:
            raise E.ErrTxTimeoutHeight.wrap(
                f"block height: {height}, timeout height: {tx.timeout_height}"
            )
        if len(tx.memo) > MAX_MEMO_CHARACTERS:
            raise E.ErrMemoTooLarge.wrap(
                f"maximum number of characters is {MAX_MEMO_CHARACTERS} but received "
                f"{len(tx.memo)} characters"
            )
        if len(tx.signatures) > TX_SIG_LIMIT:
            raise E.ErrTooManySignatures.wrap(
                f"signatures: {len(tx.signatures)}, limit: {TX_SIG_LIMIT}"
            )
        cs = _CheckState()
        all_short_term = all(is_short_term_msg(m) for m in tx.msgs)
        timestamp_nonce = False
        if not all_short_term:
            for signer, info in zip(signers, tx.signer_infos, strict=True):
                acc = self._signer_account(signer)
                if info.sequence >= TIMESTAMP_NONCE_CUTOFF:
                    timestamp_nonce = True
                    self._process_timestamp_nonce(cs, acc.address, info.sequence)
                else:
                    expected = self._check_sequences.get(acc.address, acc.sequence)
                    if info.sequence != expected:
                        raise E.ErrWrongSequence.wrap(
                            f"account sequence mismatch, expected {expected}, got {info.sequence}"
                        )
        self._verify_signatures(tx, signers, cs)
        if len(tx.msgs) > 1 and any(is_short_term_msg(m) for m in tx.msgs):
            raise E.ErrInvalidRequest.wrap(
                "a transaction containing short term MsgCancelOrder or MsgPlaceOrder may not "
                "contain more than one message"
            )
        if not all_short_term and not timestamp_nonce:
            for signer in signers:
                acc = self.state.accounts[signer]
                cs.sequences[signer] = self._check_sequences.get(signer, acc.sequence) + 1
        for m in tx.msgs:
            self._rate_limit(m)
        if all_short_term:
            self._process_short_term(tx, tx.msgs[0])
        else:
            self._process_stateful(tx)
        # success: write the check state
        self._check_sequences.update(cs.sequences)
        for address, pk in cs.pub_keys.items():
            self.state.accounts[address].pub_key = pk
        self._nonces.update(cs.nonces)

    def _signer_account(self, signer: str) -> AccountRecord:
        acc = self.state.accounts.get(signer)
        if acc is None:
            raise E.ErrUnknownAddress.wrap(f"account {signer} does not exist")
        return acc

    def _process_timestamp_nonce(self, cs: _CheckState, address: str, nonce: int) -> None:
        """`x/accountplus/keeper/timestampnonce.go` ProcessTimestampNonce."""
        block_ts = self.state.block_time_ms
        if not block_ts - MAX_TIME_IN_PAST_MS <= nonce <= block_ts + MAX_TIME_IN_FUTURE_MS:
            raise E.ErrWrongSequence.wrap(f"timestamp nonce {nonce} not within valid time window")
        current = self._nonces.get(address)
        if current is None:
            cs.nonces[address] = _NonceState([nonce], 0)
            return
        st = _NonceState(list(current.nonces), current.max_ejected)
        oldest = block_ts - MAX_TIME_IN_PAST_MS
        kept = []
        for n in st.nonces:
            if n >= oldest:
                kept.append(n)
            elif n > st.max_ejected:
                st.max_ejected = n
        st.nonces = kept
        if nonce <= st.max_ejected or nonce in st.nonces:
            raise E.ErrWrongSequence.wrap(f"timestamp nonce {nonce} rejected")
        if len(st.nonces) < MAX_TIMESTAMP_NONCES:
            st.nonces.append(nonce)
        else:
            smallest = min(st.nonces)
            if nonce <= smallest:
                raise E.ErrWrongSequence.wrap(f"timestamp nonce {nonce} rejected")
            st.max_ejected = smallest
            st.nonces[st.nonces.index(smallest)] = nonce
        cs.nonces[address] = st

    def _verify_signatures(self, tx: DecodedTx, signers: list[str], cs: _CheckState) -> None:
        # SetPubKeyDecorator: a given pubkey must belong to its signer; it is stored on first use.
        for i, (signer, info) in enumerate(zip(signers, tx.signer_infos, strict=True)):
            acc = self._signer_account(signer)
            if info.pub_key is not None:
                if address_of(info.pub_key) != signer:
                    raise E.ErrInvalidPubKey.wrap(
                        f"pubKey does not match signer address {signer} with signer index: {i}"
                    )
                if acc.pub_key is None:
                    cs.pub_keys[signer] = info.pub_key
            elif info.pub_key_type:
                raise E.ErrInvalidPubKey.wrap(f"unsupported public key type {info.pub_key_type}")
        chain_id = self.state.chain_id
        for signer, info, sig in zip(signers, tx.signer_infos, tx.signatures, strict=True):
            acc = self.state.accounts[signer]
            pk = acc.pub_key or cs.pub_keys.get(signer)
            if pk is None:
                raise E.ErrInvalidPubKey.wrap("pubkey on account is not set")
            key = self.pub_keys.get(pk)
            doc = sign_doc_bytes(tx.body_bytes, tx.auth_info_bytes, chain_id, acc.account_number)
            if key is None or info.mode != SIGN_MODE_DIRECT or not verify_signature(key, sig, doc):
                raise E.ErrUnauthorized.wrap(
                    "signature verification failed; please verify account number "
                    f"({acc.account_number}) and chain-id ({chain_id}): "
                    "(unable to verify single signer signature)"
                )

    # ---- rate limits --------------------------------------------------------------------------
    def _rate_limit(self, m: Msg) -> None:
        if isinstance(m, PlaceOrderMsg):
            owner = m.signer
            if m.order.order_id.is_short_term:
                self._count("MaxShortTermOrdersAndCancelsPerNBlocks", owner, 1)
            else:
                self._count("MaxStatefulOrdersPerNBlocks", owner, 1)
        elif isinstance(m, CancelOrderMsg):
            if m.order_id.is_short_term:
                self._count("MaxShortTermOrdersAndCancelsPerNBlocks", m.signer, 1)
        else:
            self._count(
                "MaxShortTermOrdersAndCancelsPerNBlocks", m.signer, BATCH_CANCEL_RATE_LIMIT_WEIGHT
            )

    def _count(self, context: str, owner: str, weight: int) -> None:
        """`multi_block_rate_limiter.go`/`single_block_rate_limiter.go`: the count is
        incremented before the check, and stays incremented when the check fails."""
        limits: tuple[RateLimit, ...] = (
            self.short_term_limits if context.startswith("MaxShortTerm") else self.stateful_limits
        )
        if not limits:
            return
        h = self.state.height
        per_block = self._rate.setdefault((context, owner), {})
        per_block[h] = per_block.get(h, 0) + weight
        for rl in sorted(limits, key=lambda r: r.num_blocks):
            total = sum(c for bh, c in per_block.items() if bh > h - rl.num_blocks)
            if total > rl.limit:
                if len(limits) == 1 and rl.num_blocks == 1:
                    detail = (
                        f"Rate of {total} exceeds configured block rate limit of "
                        f"{{NumBlocks:{rl.num_blocks} Limit:{rl.limit}}} for {context} and key "
                        f"{owner}"
                    )
                else:
                    detail = (
                        f"Rate of {total} exceeds configured block rate limit of "
                        f"{{NumBlocks:{rl.num_blocks} Limit:{rl.limit}}} for {context} and {owner}"
                    )
                raise E.ErrBlockRateLimitExceeded.wrap(detail)

    def _prune_rate_limits(self) -> None:
        longest = max(
            [r.num_blocks for r in (*self.short_term_limits, *self.stateful_limits)], default=1
        )
        floor = self.state.height - longest
        for key in list(self._rate):
            per_block = {h: c for h, c in self._rate[key].items() if h > floor}
            if per_block:
                self._rate[key] = per_block
            else:
                del self._rate[key]

    # ---- stateful validation ------------------------------------------------------------------
    def _market(self, clob_pair_id: int) -> Market:
        m = self.state.market(clob_pair_id)
        if m is None:
            raise E.ErrInvalidClob.wrap(f"Clob {clob_pair_id} is not a valid clob")
        return m

    def _validate_good_til_block(self, good_til_block: int) -> None:
        """`validateGoodTilBlock` with nextBlockHeight = latest committed height + 1."""
        nxt = self.state.height + 1
        if good_til_block < nxt:
            raise E.ErrHeightExceedsGoodTilBlock.wrap(
                f"GoodTilBlock {good_til_block} is less than the current blockHeight {nxt}"
            )
        if good_til_block > nxt + SHORT_BLOCK_WINDOW:
            raise E.ErrGoodTilBlockExceedsShortBlockWindow.wrap(
                f"The GoodTilBlock {good_til_block} exceeds the current blockHeight {nxt} plus "
                f"ShortBlockWindow {SHORT_BLOCK_WINDOW}"
            )

    def _validate_clob_pair_status(self, order: Order, market: Market) -> None:
        """`validateOrderAgainstClobPairStatus` (keeper/clob_pair.go)."""
        status = market.clob_pair.status
        name = f"STATUS_{status.name}"
        if status == ClobPairStatus.INITIALIZING:
            if order.order_id.is_stateful:
                raise E.ErrOrderConflictsWithClobPairStatus.wrap(
                    f"Order {go_order(order)} must not be stateful for clob pair with status {name}"
                )
            if order.time_in_force != TimeInForce.POST_ONLY:
                raise E.ErrOrderConflictsWithClobPairStatus.wrap(
                    f"Order {go_order(order)} must be post-only for clob pair with status {name}"
                )
            oracle = round(market.oracle_subticks(self.state.oracle_price(market.market_param.id)))
            if order.side == Side.BUY and order.subticks > oracle:
                raise E.ErrOrderConflictsWithClobPairStatus.wrap(
                    f"Order subticks {order.subticks} must be less than or equal to oracle price "
                    f"subticks {oracle} for clob pair with status {name}"
                )
            if order.side == Side.SELL and order.subticks < oracle:
                raise E.ErrOrderConflictsWithClobPairStatus.wrap(
                    f"Order subticks {order.subticks} must be greater than or equal to oracle "
                    f"price subticks {oracle} for clob pair with status {name}"
                )
        elif status == ClobPairStatus.FINAL_SETTLEMENT:
            raise E.ErrOrderConflictsWithClobPairStatus.wrap(
                f"Order {go_order(order)} disallowed, trading is disabled for clob pair with "
                f"status {name}"
            )

    def _stateful_order_validation(
        self, order: Order, pending_places: dict[OrderId, Order]
    ) -> Market:
        """`PerformStatefulOrderValidation` (keeper/orders.go)."""
        market = self._market(order.order_id.clob_pair_id)
        cp = market.clob_pair
        if order.subticks % cp.subticks_per_tick != 0:
            raise E.ErrInvalidPlaceOrder.wrap(
                f"Order subticks {order.subticks} must be a multiple of the ClobPair's "
                f"SubticksPerTick {cp.subticks_per_tick}"
            )
        if order.quantums % cp.step_base_quantums != 0:
            raise E.ErrInvalidPlaceOrder.wrap(
                f"Order Quantums {order.quantums} must be a multiple of the ClobPair's "
                f"StepBaseQuantums {cp.step_base_quantums}"
            )
        self._validate_clob_pair_status(order, market)
        oid = order.order_id
        if oid.is_short_term:
            self._validate_good_til_block(order.good_til_block)
            return market
        prev = self.state.block_time_ms // 1000
        gtbt = order.good_til_block_time
        if gtbt <= prev:
            raise E.ErrTimeExceedsGoodTilBlockTime.wrap(
                f"GoodTilBlockTime {gtbt} is less than the previous blockTime {prev}"
            )
        end = prev + STATEFUL_ORDER_TIME_WINDOW_S
        if gtbt > end:
            raise E.ErrGoodTilBlockTimeExceedsStatefulOrderTimeWindow.wrap(
                f"GoodTilBlockTime {gtbt} exceeds the previous blockTime plus "
                f"StatefulOrderTimeWindow {end}"
            )
        cancel = self._pending_cancels.get(oid)
        if cancel is not None:
            raise E.ErrStatefulOrderPreviouslyCancelled.wrap(
                "An uncommitted stateful order cancellation with this OrderId already exists. "
                f"Existing order cancellation: ({go_order_id(cancel.order_id)}). "
                f"New order: ({go_order(order)})."
            )
        existing = pending_places.get(oid)
        if existing is not None:
            raise E.ErrStatefulOrderAlreadyExists.wrap(
                "An uncommitted stateful order with this OrderId already exists and stateful "
                "order replacement is not supported. Existing order GoodTilBlockTime "
                f"({existing.good_til_block_time}), New order GoodTilBlockTime ({gtbt}). "
                f"Existing order: ({go_order(existing)}). New order: ({go_order(order)})."
            )
        committed = self._committed_stateful(oid)
        if committed is not None:
            raise E.ErrStatefulOrderAlreadyExists.wrap(
                "A stateful order with this OrderId already exists and stateful order "
                "replacement is not supported. Existing order GoodTilBlockTime "
                f"({committed.good_til_block_time}), New order GoodTilBlockTime ({gtbt}). "
                f"Existing order: ({go_order(committed)}). New order: ({go_order(order)})."
            )
        if oid.is_conditional and order.conditional_order_trigger_subticks % cp.subticks_per_tick:
            raise E.ErrInvalidPlaceOrder.wrap(
                f"Conditional order trigger subticks {order.conditional_order_trigger_subticks} "
                f"must be a multiple of the ClobPair's SubticksPerTick {cp.step_base_quantums}"
            )
        return market

    def _committed_stateful(self, oid: OrderId) -> Order | None:
        book = self.state.books.get(oid.clob_pair_id)
        r = book.get(oid) if book is not None else None
        if r is None:
            r = self.state.untriggered.get(oid)
        return r.order if r is not None else None

    def _stateful_order_count(self, sid: SubaccountId) -> int:
        n = sum(
            1
            for b in self.state.books.values()
            for oid in b.orders
            if oid.is_stateful and oid.subaccount_id == sid
        )
        n += sum(1 for oid in self.state.untriggered if oid.subaccount_id == sid)
        n += sum(1 for oid in self._pending_places if oid.subaccount_id == sid)
        return n

    def _risk(
        self, rec: SubaccountRecord | None, override: tuple[int, int, int] | None = None
    ) -> Risk:
        usdc = rec.usdc if rec else 0
        positions = {pid: p[0] for pid, p in rec.positions.items()} if rec else {}
        if override is not None:
            pid, dq, du = override
            positions[pid] = positions.get(pid, 0) + dq
            usdc += du
        return risk_of(
            usdc, positions.items(), self.state.markets_by_perpetual(), self.state.prices
        )

    def _equity_tier_check(self, order: Order) -> None:
        """`ValidateSubaccountEquityTierLimitForStatefulOrder` (keeper/equity_tier_limit.go)."""
        tiers = self.state.genesis.stateful_order_equity_tiers
        if not tiers:
            return
        sid = order.order_id.subaccount_id
        nc = self._risk(self.state.subaccount_records.get(sid)).net_collateral
        limit = 0
        for t in tiers:
            if nc < t.usd_tnc_required:
                break
            limit = t.limit
        if limit == 0:
            raise E.ErrOrderWouldExceedMaxOpenOrdersEquityTierLimit.wrap(
                f"Opening order would exceed equity tier limit of 0, for subaccount "
                f"{go_subaccount_id(sid)} with net collateral {nc}"
            )
        count = self._stateful_order_count(sid)
        if count >= limit:
            raise E.ErrOrderWouldExceedMaxOpenOrdersEquityTierLimit.wrap(
                f"Opening order would exceed equity tier limit of {limit}. Order count: {count}, "
                f"total net collateral: {nc}, order id: {go_order_id(order.order_id)}"
            )

    def _collateral_check(self, order: Order, market: Market) -> None:
        """`AddOrderToOrderbookSubaccountUpdatesCheck`: the subaccount as if the order filled
        entirely at its price must pass the collateral check (not for conditional orders)."""
        rec = self.state.subaccount_records.get(order.order_id.subaccount_id)
        sign = 1 if order.side == Side.BUY else -1
        quote = market.quote_quantums(order.quantums, order.subticks)
        before = self._risk(rec)
        after = self._risk(rec, (market.perpetual.id, sign * order.quantums, -sign * quote))
        if not is_valid_transition(before, after):
            result = (
                "NewlyUndercollateralized"
                if before.is_initial_collateralized
                else ("StillUndercollateralized")
            )
            raise E.ErrStatefulOrderCollateralizationCheckFailed.wrap(
                f"PlaceStatefulOrder: order ({go_order(order)}), result ({result})"
            )

    # ---- clob processing (the ClobDecorator) --------------------------------------------------
    def _process_short_term(self, tx: DecodedTx, m: Msg) -> None:
        if isinstance(m, PlaceOrderMsg):
            order = m.order
            if tx.timeout_height and tx.timeout_height < order.good_til_block:
                # HOTFIX in x/clob/ante/clob.go
                raise E.ErrInvalidRequest.wrap(
                    "timeout height (if non-zero) may not be less than `goodTilBlock` for a "
                    "short-term place order"
                )
            market = self._stateful_order_validation(order, self._pending_places)
            self.memclob.place_short_term(order, market, tx.hash)
            self._record_accepted(order, tx.hash)
        elif isinstance(m, CancelOrderMsg):
            self._validate_good_til_block(m.good_til_block)
            if m.order_id.clob_pair_id not in self.state.books:
                raise _panic()
            self.memclob.cancel_short_term(m.order_id, m.good_til_block)
        else:
            self._validate_good_til_block(m.good_til_block)
            for batch in m.short_term_cancels:
                if batch.clob_pair_id not in self.state.books:
                    raise E.ErrInvalidClobPairParameter.wrap(
                        f"Invalid clob pair id {batch.clob_pair_id}"
                    )
            succeeded: list[int] = []
            failed: list[int] = []
            for batch in m.short_term_cancels:
                for cid in batch.client_ids:
                    oid = OrderId(m.subaccount_id, cid, OrderFlags.SHORT_TERM, batch.clob_pair_id)
                    try:
                        self.memclob.cancel_short_term(oid, m.good_til_block)
                        succeeded.append(cid)
                    except E.TxError:
                        failed.append(cid)
            if not succeeded:
                raise E.ErrBatchCancelFailed.wrap(
                    f"No successful cancellations. Failures: [{' '.join(map(str, failed))}]"
                )

    def _process_stateful(self, tx: DecodedTx) -> None:
        places: list[Order] = []
        cancels: list[CancelOrderMsg] = []
        local_places = dict(self._pending_places)
        local_cancels: dict[OrderId, CancelOrderMsg] = {}
        for m in tx.msgs:
            if isinstance(m, PlaceOrderMsg):
                order = m.order
                if order.order_id in local_cancels:
                    raise E.ErrStatefulOrderPreviouslyCancelled.wrap(
                        "An uncommitted stateful order cancellation with this OrderId already "
                        f"exists. New order: ({go_order(order)})."
                    )
                market = self._stateful_order_validation(order, local_places)
                self._equity_tier_check(order)
                if not order.order_id.is_conditional:
                    self._collateral_check(order, market)
                places.append(order)
                local_places[order.order_id] = order
            elif isinstance(m, CancelOrderMsg):
                self._validate_stateful_cancel(m, local_places, local_cancels)
                cancels.append(m)
                local_cancels[m.order_id] = m
        for order in places:
            self._pending_places[order.order_id] = order
            self._record_accepted(order, tx.hash)
        for c in cancels:
            self._pending_cancels[c.order_id] = c
        self._pending_txs.append(_PendingTx(tx, places, cancels))

    def _validate_stateful_cancel(
        self,
        m: CancelOrderMsg,
        pending_places: dict[OrderId, Order],
        local_cancels: dict[OrderId, CancelOrderMsg],
    ) -> None:
        """`PerformOrderCancellationStatefulValidation` for stateful orders."""
        prev = self.state.block_time_ms // 1000
        gtbt = m.good_til_block_time
        if gtbt <= prev:
            raise E.ErrTimeExceedsGoodTilBlockTime.bare()
        end = prev + STATEFUL_ORDER_TIME_WINDOW_S
        if gtbt > end:
            raise E.ErrGoodTilBlockTimeExceedsStatefulOrderTimeWindow.wrap(
                f"GoodTilBlockTime {gtbt} exceeds the previous blockTime plus "
                f"StatefulOrderTimeWindow {end}. MsgCancelOrder: {go_order_id(m.order_id)}"
            )
        existing_cancel = self._pending_cancels.get(m.order_id) or local_cancels.get(m.order_id)
        if existing_cancel is not None:
            raise E.ErrStatefulOrderCancellationAlreadyExists.wrap(
                "An uncommitted stateful order cancellation with this OrderId already exists and "
                "stateful order cancellation replacement is not supported. Existing order "
                f"cancellation GoodTilBlockTime ({existing_cancel.good_til_block_time}), New order "
                f"cancellation GoodTilBlockTime ({gtbt})."
            )
        order = self._committed_stateful(m.order_id) or pending_places.get(m.order_id)
        if order is None:
            raise E.ErrStatefulOrderDoesNotExist.wrap(
                f"Order Id to cancel does not exist. OrderId : {go_order_id(m.order_id)}"
            )
        if gtbt < order.good_til_block_time:
            raise E.ErrInvalidStatefulOrderCancellation.wrap(
                "cancellation goodTilBlockTime less than stateful order goodTilBlockTime. "
                f"cancellation {go_order_id(m.order_id)}, order {go_order(order)}"
            )

    def _record_accepted(self, order: Order, h: str) -> None:
        self.accepted_orders.append(
            AcceptedOrder(
                order.order_id,
                order.good_til_block,
                order.good_til_block_time,
                h,
                self.state.height,
                order.side,
                order.quantums,
                order.subticks,
            )
        )

    # ---- blocks -------------------------------------------------------------------------------
    def commit_block(self, now_ms: int | None = None) -> int:
        """Produce the next block; returns its height."""
        st = self.state
        if now_ms is None:
            now_ms = int(self.clock() * 1000)
        self._in_commit = True
        try:
            st.height += 1
            st.block_time_ms = max(now_ms, st.block_time_ms + 1)
            height = st.height
            self.block_times[height] = st.block_time_ms
            self.block_times.pop(height - BLOCKS_KEPT, None)
            self._update_oracle(height)
            tx_hashes: list[str] = []
            pending, self._pending_txs = self._pending_txs, []
            self._pending_places.clear()
            self._pending_cancels.clear()
            for p in pending:
                self._deliver(p)
                tx_hashes.append(p.tx.hash)
                self.committed_txs[p.tx.hash] = CommittedTx(
                    p.tx.tx_bytes, p.tx.hash, height, st.block_time_ms, p.tx.gas_limit
                )
            for address, seq in self._check_sequences.items():
                st.accounts[address].sequence = seq
            self._check_sequences.clear()
            self.memclob.end_block(height)
            self._expire_stateful()
            self._trigger_conditionals()
            self._quote_market_makers(height)
            self._prune_rate_limits()
            block_time = st.block_time
            events = [make(height=height, time=block_time) for make in self._onchain]
            self._onchain = []
            block = BlockCommitted(height, block_time, tuple(tx_hashes))
            events.append(block)
        finally:
            self._in_commit = False
        self.bus.publish(EventBatch(tuple(events), block))
        return height

    def block_hash(self, height: int) -> bytes:
        """A stand-in block hash: sha256 of chain id, height and block time."""
        t = self.block_times.get(height, 0)
        return hashlib.sha256(f"{self.state.chain_id}:{height}:{t}".encode()).digest()

    def _update_oracle(self, height: int) -> None:
        for mid, current in list(self.state.prices.items()):
            override = self._oracle_overrides.pop(mid, None)
            if override is not None:
                new = override
            elif self.oracle is not None:
                candidate = self.oracle.step(height, mid)
                market = self.state.market_by_market_id(mid)
                min_change = market.market_param.min_price_change_ppm if market else 0
                if not should_publish(current.price, candidate, min_change):
                    continue
                new = candidate
            else:
                continue
            if new == current.price:
                continue
            self.state.prices[mid] = MarketPrice(mid, current.exponent, new)
            self._onchain.append(
                partial(OraclePriceUpdated, market_id=mid, price=new, exponent=current.exponent)
            )

    def _deliver(self, p: _PendingTx) -> None:
        for c in p.cancels:
            oid = c.order_id
            removed = self.state.books[oid.clob_pair_id].remove(oid)
            if removed is None:
                removed = self.state.untriggered.pop(oid, None)
            if removed is not None:
                self._onchain.append(
                    partial(
                        OrderRemoved,
                        order_id=oid,
                        reason=RemovalReason.USER_CANCELED,
                        status=RemovalStatus.CANCELED,
                    )
                )
        for order in p.places:
            market = self.state.market(order.order_id.clob_pair_id)
            assert market is not None
            if order.order_id.is_conditional:
                self._onchain.append(
                    partial(
                        OrderPlaced,
                        order=order,
                        status=PlacementStatus.OPENED,
                        tx_hash=p.tx.hash,
                        untriggered=True,
                    )
                )
                self.state.untriggered[order.order_id] = RestingOrder(
                    order,
                    placed_height=self.state.height,
                    tx_hash=p.tx.hash,
                    placed_at_ms=self.state.block_time_ms,
                    triggered=False,
                )
            else:
                self._onchain.append(
                    partial(
                        OrderPlaced, order=order, status=PlacementStatus.OPENED, tx_hash=p.tx.hash
                    )
                )
                self.memclob.place_stateful(order, market, p.tx.hash)

    def _expire_stateful(self) -> None:
        now_s = self.state.block_time_ms // 1000
        for book in self.state.books.values():
            expired = [
                oid
                for oid, r in book.orders.items()
                if oid.is_stateful and r.order.good_til_block_time <= now_s
            ]
            for oid in expired:
                self.memclob.remove_resting(oid, RemovalReason.EXPIRED, onchain=True)
        for oid, r in list(self.state.untriggered.items()):
            if r.order.good_til_block_time <= now_s:
                del self.state.untriggered[oid]
                self._onchain.append(
                    partial(
                        OrderRemoved,
                        order_id=oid,
                        reason=RemovalReason.EXPIRED,
                        status=RemovalStatus.CANCELED,
                    )
                )

    def _trigger_conditionals(self) -> None:
        """Stop-loss buys trigger when oracle >= trigger, sells when oracle <= trigger;
        take-profit the reverse (`x/clob/types/order.go` CanTrigger)."""
        for oid, r in list(self.state.untriggered.items()):
            o = r.order
            market = self.state.market(oid.clob_pair_id)
            assert market is not None
            oracle = market.oracle_subticks(self.state.oracle_price(market.market_param.id))
            trig = o.conditional_order_trigger_subticks
            up = (o.condition_type == ConditionType.STOP_LOSS) == (o.side == Side.BUY)
            if (up and oracle >= trig) or (not up and oracle <= trig):
                del self.state.untriggered[oid]
                self._onchain.append(partial(OrderTriggered, order=o))
                self.memclob.place_stateful(o, market, r.tx_hash)

    def _quote_market_makers(self, height: int) -> None:
        owner = self.market_maker
        if owner is None:
            return
        sid = SubaccountId(owner, 0)
        for market in self.state.markets():
            if market.clob_pair.status != ClobPairStatus.ACTIVE:
                continue
            price = self.state.oracle_price(market.market_param.id)
            book = self.state.books[market.clob_pair_id]
            mine = [oid for oid in book.orders if oid.subaccount_id == sid]
            last = self._mm_quoted.get(market.clob_pair_id)
            if (
                last is not None
                and last[1] == price.price
                and height - last[0] < MM_REQUOTE_AFTER
                and len(mine) == 2 * MM_LEVELS
            ):
                continue
            for oid in mine:
                self.memclob.remove_resting(oid, RemovalReason.USER_CANCELED, onchain=True)
            for order in ladder(self.seed, height, market, price, owner):
                try:
                    existing = self.memclob.validate_new_order(order, market)
                except E.TxError:
                    continue
                if existing is not None:
                    continue
                self._onchain.append(
                    partial(
                        OrderPlaced,
                        order=order,
                        status=PlacementStatus.BEST_EFFORT_OPENED,
                        tx_hash="",
                    )
                )
                self.memclob.place_stateful(order, market, "")
            self._mm_quoted[market.clob_pair_id] = (height, price.price)


def _panic() -> E.TxError:
    # baseapp recovers a panic in CheckTx as sdk/111222 with a redacted message.
    return E.Registered("sdk", 111222, "panic").wrap(
        "panic message redacted to hide potentially sensitive system info"
    )
