"""Signing and broadcasting with the right account sequence (v4-chain
``protocol/app/ante/replay_protection.go``, ``protocol/app/ante/util.go``,
``protocol/x/accountplus/keeper/timestampnonce.go``; dydxprotocol/v4-clients #282).

* **Short-term** txs (every message a short-term place/cancel or a batch cancel) skip the
  chain's sequence check and do not consume a sequence (``protocol/app/ante/replay_protection.go``,
  ``ante/util.go`` ShouldSkipSequenceValidation). They are signed with the last known sequence,
  without waiting for anything, and may go out concurrently.
* **Stateful** txs in ``ACCOUNT_SEQUENCE`` mode go through one writer per account (a lock). The
  local sequence advances only when CheckTx accepted the tx. On sdk/32 it is resynchronised —
  from the "expected N" in the rejection (CheckTx's own check-state, which already counts txs
  still in the mempool) or else from the node — and the same messages are signed again (same
  OrderId, never a new one). After any other failure the next tx resyncs from the node first,
  because a counter that drifts after an unrelated error stays wrong for good (hummingbot PR
  #8339).
* Across replicas (docs/scaling.md), ``ACCOUNT_SEQUENCE`` mode also takes a ``SequenceLock``: a
  lease in the shared database held while one stateful tx is signed and broadcast, which hands
  the next sequence to whichever replica sends next.
* In ``TIMESTAMP_NONCE`` mode (x/accountplus) the "sequence" is unix milliseconds >= 2^40,
  strictly increasing and unique per account, within ±30 s of the block time; stateful txs then
  need no lock and can go out concurrently, and they never consume the account sequence. With
  several replicas each one uses only the nonces ``n`` with ``n % stride == offset`` (its own
  residue), so two replicas never pick the same millisecond unless their offsets collide; a
  duplicate is refused at CheckTx ("timestamp nonce N rejected") and signed again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import structlog

from dydx_router.chain.errors import (
    ChainError,
    InvalidTxInput,
    SequenceMismatch,
    TimestampNonceRejected,
)
from dydx_router.chain.node import Account
from dydx_router.chain.tx import (
    CLOB_GAS_LIMIT,
    SignedTx,
    Signer,
    is_short_term_message,
    selected_authenticators,
    sign_tx,
)
from dydx_router.observability import metrics

log = structlog.get_logger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# protocol/x/accountplus/keeper/timestampnonce.go: TimestampNonceSequenceCutoff (sequences at or
# above it are unix-ms timestamps) and MaxTimeInPastMs / MaxTimeInFutureMs around the block time.
TIMESTAMP_NONCE_MIN = 1 << 40
TIMESTAMP_NONCE_WINDOW_MS = 30_000
# How far past a nonce's window the latest block's time must be before a tx with that nonce,
# in no block, is judged dead (see nonce_expired): the tx index may trail the block store.
NONCE_EXPIRY_MARGIN_MS = 5_000


def nonce_expired(nonce: int, block_time: datetime) -> bool:
    """Whether a tx signed with timestamp nonce ``nonce`` can never pass the chain's check any
    more, ``block_time`` being the latest committed block's time (the chain's clock, never this
    machine's). The chain refuses a nonce older than its block's time - 30 s, at CheckTx and in
    the block alike (v4-chain `protocol/x/accountplus/keeper/timestampnonce.go`
    IsValidTimestampNonce, MaxTimeInPastMs), and block times only increase (CometBFT: each
    block's time is after its parent's), so once one block is past ``nonce + 30 s`` every later
    block is. The margin keeps the judgement clear of a tx indexed late (the caller has looked
    it up by hash on the node that gave ``block_time``)."""
    if nonce < TIMESTAMP_NONCE_MIN:
        return False
    block_ms = (block_time - _EPOCH) // timedelta(milliseconds=1)
    return block_ms > nonce + TIMESTAMP_NONCE_WINDOW_MS + NONCE_EXPIRY_MARGIN_MS


# Called with a signed stateful tx before it is broadcast (the write-ahead of its bytes); an
# exception stops the broadcast.
BeforeBroadcast = Callable[[SignedTx], Awaitable[None]]


class SequenceMode(StrEnum):
    ACCOUNT_SEQUENCE = "account_sequence"
    TIMESTAMP_NONCE = "timestamp_nonce"


class ChainWriter(Protocol):
    """What the sequencer needs from the node (``chain.node.NodeClient`` is one)."""

    async def account(self, address: str) -> Account: ...

    async def broadcast(self, tx: SignedTx) -> str: ...


class SequenceHold(Protocol):
    """The shared next sequence while the lease is held; set it before leaving (None: unknown,
    the next holder resyncs from the node)."""

    token: int
    next_sequence: int | None


class SequenceLock(Protocol):
    """One writer of an address's account sequence across replicas (``store/leases.py``)."""

    def hold(self, address: str) -> AbstractAsyncContextManager[SequenceHold]: ...


@dataclass(frozen=True, slots=True)
class Submitted:
    """CheckTx accepted the tx (accepted is not executed: dydxprotocol/v4-clients #238)."""

    tx_hash: str
    sequence: int
    tx: SignedTx


class Sequencer:
    """Signs and broadcasts txs for one account (one per address in the process)."""

    def __init__(
        self,
        node: ChainWriter,
        signer: Signer,
        address: str,
        *,
        chain_id: str,
        memo: str = "",
        mode: SequenceMode = SequenceMode.ACCOUNT_SEQUENCE,
        sequence_retries: int = 2,
        clock_ms: Callable[[], int] | None = None,
        authenticator_id: int | None = None,
        sequence_lock: SequenceLock | None = None,
        nonce_stride: int = 1,
        nonce_offset: int = 0,
    ) -> None:
        if not 0 <= nonce_offset < nonce_stride:
            raise ValueError("nonce_offset must be in [0, nonce_stride)")
        self._node = node
        self._signer = signer
        self._address = address
        self._chain_id = chain_id
        self._memo = memo
        self._mode = mode
        self._sequence_retries = sequence_retries
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._lock = asyncio.Lock()
        self._account_number: int | None = None
        self._sequence: int | None = None  # next sequence to use; None = resync first
        self._last_nonce = 0
        # x/accountplus: ``address`` is the owner's, ``signer`` a permissioned trading key
        self._authenticator_id = authenticator_id
        self._sequence_lock = sequence_lock
        self._nonce_stride = nonce_stride
        self._nonce_offset = nonce_offset

    @property
    def address(self) -> str:
        return self._address

    @property
    def mode(self) -> SequenceMode:
        return self._mode

    @property
    def cached_sequence(self) -> int | None:
        return self._sequence

    def forget_sequence(self) -> None:
        """Make the next stateful tx resync from the node first."""
        self._sequence = None

    async def _resync(self) -> tuple[int, int]:
        metrics.SEQUENCE_RESYNCS.inc()
        account = await self._node.account(self._address)
        self._account_number = account.account_number
        self._sequence = account.sequence
        log.info("sequence_resynced", address=self._address, sequence=account.sequence)
        return account.account_number, account.sequence

    async def _account_number_or_fetch(self) -> int:
        if self._account_number is None:
            await self._resync()
        assert self._account_number is not None
        return self._account_number

    def _sign(self, messages: Sequence[Any], account_number: int, sequence: int) -> SignedTx:
        return sign_tx(
            self._signer,
            messages,
            chain_id=self._chain_id,
            account_number=account_number,
            sequence=sequence,
            memo=self._memo,
            gas_limit=CLOB_GAS_LIMIT,
            authenticators=selected_authenticators(self._authenticator_id, len(messages)),
        )

    async def send(
        self, messages: Sequence[Any], before_broadcast: BeforeBroadcast | None = None
    ) -> Submitted:
        """Sign and broadcast; short-term or stateful handling is chosen from the messages.

        ``before_broadcast`` is awaited with every signed stateful tx before it goes out (each
        re-signing after sdk/32 is a new tx): the caller stores the bytes first, so that a
        process that dies mid-broadcast leaves the exact tx behind to look up or re-send."""
        if not messages:
            raise InvalidTxInput("a tx needs at least one message")
        if all(is_short_term_message(m) for m in messages):
            return await self.send_short_term(messages)
        return await self.send_stateful(messages, before_broadcast)

    async def send_short_term(self, messages: Sequence[Any]) -> Submitted:
        if len(messages) != 1:
            # protocol/x/clob/ante/clob.go: a short-term clob msg must be alone in its tx (sdk 18).
            raise InvalidTxInput("a short-term order or cancel must be the only message in its tx")
        account_number = await self._account_number_or_fetch()
        # Any sequence is accepted and none is consumed; the cached one keeps the tx ordinary.
        sequence = self._sequence if self._sequence is not None else 0
        signed = self._sign(messages, account_number, sequence)
        return Submitted(await self._node.broadcast(signed), sequence, signed)

    async def send_stateful(
        self, messages: Sequence[Any], before_broadcast: BeforeBroadcast | None = None
    ) -> Submitted:
        if self._mode is SequenceMode.TIMESTAMP_NONCE:
            return await self._send_with_nonce(messages, before_broadcast)
        async with self._lock:
            if self._sequence_lock is None:
                return await self._send_in_sequence(messages, before_broadcast)
            return await self._send_leased(self._sequence_lock, messages, before_broadcast)

    async def _send_leased(
        self,
        lease: SequenceLock,
        messages: Sequence[Any],
        before_broadcast: BeforeBroadcast | None,
    ) -> Submitted:
        """Send under the shared lease: the sequence another replica left is the one to use."""
        failure: ChainError | None = None
        async with lease.hold(self._address) as hold:
            fresh = self._account_number is None
            if fresh:
                await self._resync()  # the account number, once per process
            if hold.next_sequence is not None:
                self._sequence = hold.next_sequence
            elif not fresh:
                self._sequence = None  # unknown to the last holder: ask the node
            try:
                submitted = await self._send_in_sequence(messages, before_broadcast)
            except ChainError as e:
                # Committed with the lease (unknown: None), not rolled back with it.
                failure = e
            hold.next_sequence = self._sequence
        if failure is not None:
            raise failure
        return submitted

    async def _send_in_sequence(
        self, messages: Sequence[Any], before_broadcast: BeforeBroadcast | None
    ) -> Submitted:
        attempts = 0
        # Once an attempt may have reached a node, every later answer is to a re-send of the
        # same OrderId (chain/answers.py): a lost reply followed by sdk/32 and clob/3005.
        resent = False
        while True:
            if self._sequence is None or self._account_number is None:
                await self._resync()
            assert self._sequence is not None and self._account_number is not None
            sequence = self._sequence
            signed = self._sign(messages, self._account_number, sequence)
            if before_broadcast is not None:
                await before_broadcast(signed)
            try:
                tx_hash = await self._node.broadcast(signed)
            except SequenceMismatch as e:
                resent = resent or e.resent
                attempts += 1
                log.warning(
                    "sequence_mismatch",
                    address=self._address,
                    used=sequence,
                    expected=e.expected,
                    attempt=attempts,
                )
                # CheckTx's "expected" already counts mempool txs; the node's committed value
                # may not, so it is only the fallback.
                self._sequence = e.expected
                if attempts > self._sequence_retries:
                    self._sequence = None
                    e.signed, e.resent = signed, resent
                    raise
                continue
            except ChainError as e:
                self._sequence = None  # unknown or refused: resync before the next stateful tx
                e.signed = signed
                e.resent = e.resent or resent
                raise
            self._sequence = sequence + 1
            return Submitted(tx_hash, sequence, signed)

    def preview_nonce(self) -> int:
        """The timestamp nonce a stateful tx signed now would carry, not reserved (a preview's;
        the tx itself takes its own when it is signed)."""
        return self._nonce_at(self._clock_ms())

    def _nonce_at(self, now: int) -> int:
        nonce = max(now, self._last_nonce + 1)
        return nonce + (self._nonce_offset - nonce) % self._nonce_stride  # this replica's residue

    def _next_nonce(self) -> int:
        now = self._clock_ms()
        nonce = self._nonce_at(now)
        if nonce < TIMESTAMP_NONCE_MIN:
            raise InvalidTxInput("the clock is before 2004: no valid timestamp nonce")
        if nonce - now > TIMESTAMP_NONCE_WINDOW_MS:
            raise InvalidTxInput("timestamp nonces ran more than 30 s ahead of the clock")
        self._last_nonce = nonce
        return nonce

    async def _send_with_nonce(
        self, messages: Sequence[Any], before_broadcast: BeforeBroadcast | None = None
    ) -> Submitted:
        account_number = await self._account_number_or_fetch()
        attempts = 0
        while True:
            nonce = self._next_nonce()  # synchronous: unique even with concurrent senders
            signed = self._sign(messages, account_number, nonce)
            if before_broadcast is not None:
                await before_broadcast(signed)
            try:
                return Submitted(await self._node.broadcast(signed), nonce, signed)
            except ChainError as e:
                e.signed = signed
                if not isinstance(e, TimestampNonceRejected):
                    raise
                attempts += 1
                if attempts > self._sequence_retries:
                    raise
                log.warning("timestamp_nonce_rejected", address=self._address, nonce=nonce)
