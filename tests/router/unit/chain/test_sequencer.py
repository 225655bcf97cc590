"""Sequencer against a hand-written fake of its ChainWriter port that enforces the chain's sequence
rules (v4-chain protocol/app/ante/replay_protection.go, x/accountplus/keeper/timestampnonce.go):
short-term txs skip the check and consume nothing; stateful txs need the exact next sequence or a
fresh, unique timestamp nonce."""

import asyncio
from dataclasses import dataclass, field

import pytest
from pydantic import SecretStr
from v4_proto.cosmos.tx.v1beta1.tx_pb2 import AuthInfo, TxRaw

from dydx_router.chain import tx
from dydx_router.chain.errors import (
    ChainRejected,
    ChainTimeout,
    Disposition,
    InvalidTxInput,
    SequenceMismatch,
    rejection,
)
from dydx_router.chain.node import Account
from dydx_router.chain.sequencer import TIMESTAMP_NONCE_MIN, SequenceMode, Sequencer
from dydx_router.chain.tx import ChainOrderId, OrderFlags, SignedTx
from dydx_router.chain.wallet import Wallet
from dydx_router.domain.market import Side

WALLET = Wallet.from_mnemonic(SecretStr(" ".join(["abandon"] * 11 + ["about"])))
NOW_MS = 1_767_225_600_000


@dataclass
class FakeChain:
    """CheckTx's sequence logic for one account (protocol/app/ante/replay_protection.go)."""

    account_number: int = 17
    sequence: int = 0  # check-state sequence
    committed: int | None = None  # what auth/Account returns (lags when txs are pending)
    seen_nonces: set[int] = field(default_factory=set)
    fail_next: ChainRejected | ChainTimeout | None = None
    include_expected: bool = True
    account_calls: int = 0
    accepted: list[int] = field(default_factory=list)

    async def account(self, address: str) -> Account:
        self.account_calls += 1
        committed = self.sequence if self.committed is None else self.committed
        return Account(address, self.account_number, committed)

    async def broadcast(self, signed: SignedTx) -> str:
        await asyncio.sleep(0)  # let concurrent senders interleave
        if self.fail_next is not None:
            err, self.fail_next = self.fail_next, None
            raise err
        raw = TxRaw.FromString(signed.tx_bytes)
        sequence = AuthInfo.FromString(raw.auth_info_bytes).signer_infos[0].sequence
        short = all(tx.is_short_term_message(m) for m in _messages(raw))
        if short:
            return signed.tx_hash
        if sequence >= TIMESTAMP_NONCE_MIN:
            if sequence in self.seen_nonces or abs(sequence - NOW_MS) > 30_000:
                raise rejection("sdk", 32, f"timestamp nonce {sequence} rejected")
            self.seen_nonces.add(sequence)
            return signed.tx_hash
        if sequence != self.sequence:
            detail = f"expected {self.sequence}, got {sequence}" if self.include_expected else ""
            raise rejection(
                "sdk", 32, f"account sequence mismatch, {detail}: incorrect account sequence"
            )
        self.sequence += 1
        self.accepted.append(sequence)
        return signed.tx_hash


def _messages(raw: TxRaw) -> list[object]:
    from v4_proto.cosmos.tx.v1beta1.tx_pb2 import TxBody
    from v4_proto.dydxprotocol.clob.tx_pb2 import MsgBatchCancel, MsgCancelOrder, MsgPlaceOrder

    types = {
        "/dydxprotocol.clob.MsgPlaceOrder": MsgPlaceOrder,
        "/dydxprotocol.clob.MsgCancelOrder": MsgCancelOrder,
        "/dydxprotocol.clob.MsgBatchCancel": MsgBatchCancel,
    }
    return [
        types[a.type_url].FromString(a.value) for a in TxBody.FromString(raw.body_bytes).messages
    ]


def _long_term(client_id: int = 1) -> object:
    return tx.place_order(
        ChainOrderId(WALLET.address, 0, client_id, 0, OrderFlags.LONG_TERM),
        side=Side.BUY,
        quantums=1_000_000,
        subticks=100_000,
        good_til_block_time=1_800_000_000,
    )


def _short_term(client_id: int = 1) -> object:
    return tx.place_order(
        ChainOrderId(WALLET.address, 0, client_id, 0, OrderFlags.SHORT_TERM),
        side=Side.BUY,
        quantums=1_000_000,
        subticks=100_000,
        good_til_block=100,
    )


def _sequencer(chain: FakeChain, **kwargs: object) -> Sequencer:
    return Sequencer(chain, WALLET, WALLET.address, chain_id="localdydxprotocol", **kwargs)  # type: ignore[arg-type]


async def test_stateful_txs_use_consecutive_sequences() -> None:
    chain = FakeChain(sequence=5)
    seq = _sequencer(chain)
    results = [await seq.send([_long_term(i)]) for i in range(3)]
    assert [r.sequence for r in results] == [5, 6, 7]
    assert chain.accepted == [5, 6, 7]
    assert chain.account_calls == 1  # resynced once, then tracked locally


async def test_concurrent_stateful_txs_are_serialised_per_account() -> None:
    chain = FakeChain(sequence=3)
    seq = _sequencer(chain)
    results = await asyncio.gather(*(seq.send([_long_term(i)]) for i in range(10)))
    assert sorted(r.sequence for r in results) == list(range(3, 13))
    assert chain.sequence == 13


async def test_stale_sequence_recovers_from_the_expected_value() -> None:
    chain = FakeChain(sequence=2)
    seq = _sequencer(chain)
    await seq.send([_long_term(1)])
    chain.sequence += 3  # another writer used the account meanwhile
    chain.committed = 0  # and the node's committed view lags behind check-state
    result = await seq.send([_long_term(2)])
    assert result.sequence == 6
    assert seq.cached_sequence == 7
    assert chain.account_calls == 1  # "expected 6" in the log was enough


async def test_stale_sequence_without_expected_value_resyncs_from_the_node() -> None:
    chain = FakeChain(sequence=2, include_expected=False)
    seq = _sequencer(chain)
    await seq.send([_long_term(1)])
    chain.sequence += 1
    result = await seq.send([_long_term(2)])
    assert result.sequence == 4
    assert chain.account_calls == 2


async def test_sequence_mismatch_that_persists_is_raised() -> None:
    chain = FakeChain(sequence=0, committed=99, include_expected=False)
    seq = _sequencer(chain, sequence_retries=2)
    with pytest.raises(SequenceMismatch) as exc:
        await seq.send([_long_term()])
    assert exc.value.disposition is Disposition.RETRYABLE
    assert seq.cached_sequence is None


@pytest.mark.parametrize(
    "failure",
    [
        rejection("clob", 3007, "collateral"),
        ChainTimeout("no node endpoint answered"),
    ],
)
async def test_any_other_failure_resyncs_before_the_next_stateful_tx(
    failure: ChainRejected | ChainTimeout,
) -> None:
    chain = FakeChain(sequence=4)
    seq = _sequencer(chain)
    await seq.send([_long_term(1)])
    chain.fail_next = failure
    with pytest.raises(type(failure)):
        await seq.send([_long_term(2)])
    assert seq.cached_sequence is None  # the counter did not advance on failure
    assert (await seq.send([_long_term(3)])).sequence == 5
    assert chain.account_calls == 2


async def test_short_term_txs_skip_the_lock_and_consume_no_sequence() -> None:
    chain = FakeChain(sequence=9)
    seq = _sequencer(chain)
    async with seq._lock:  # a stateful tx in flight does not hold short-term txs back
        results = await asyncio.gather(*(seq.send([_short_term(i)]) for i in range(5)))
    assert len({r.tx_hash for r in results}) == 5
    assert chain.sequence == 9
    assert (await seq.send([_long_term()])).sequence == 9


async def test_short_term_tx_must_be_alone() -> None:
    seq = _sequencer(FakeChain())
    with pytest.raises(InvalidTxInput, match="only message"):
        await seq.send([_short_term(1), _short_term(2)])


async def test_timestamp_nonces_are_unique_increasing_and_concurrent() -> None:
    chain = FakeChain(sequence=4)
    seq = _sequencer(chain, mode=SequenceMode.TIMESTAMP_NONCE, clock_ms=lambda: NOW_MS)
    results = await asyncio.gather(*(seq.send([_long_term(i)]) for i in range(20)))
    nonces = [r.sequence for r in results]
    assert len(set(nonces)) == 20
    assert min(nonces) == NOW_MS and max(nonces) == NOW_MS + 19  # clock frozen: +1 each
    assert all(n >= TIMESTAMP_NONCE_MIN for n in nonces)
    assert chain.sequence == 4  # the account sequence is untouched


async def test_rejected_timestamp_nonce_is_retried_with_a_new_one() -> None:
    chain = FakeChain()
    chain.seen_nonces.add(NOW_MS)  # e.g. another process used this millisecond
    seq = _sequencer(chain, mode=SequenceMode.TIMESTAMP_NONCE, clock_ms=lambda: NOW_MS)
    assert (await seq.send([_long_term()])).sequence == NOW_MS + 1


async def test_timestamp_nonce_never_runs_far_ahead_of_the_clock() -> None:
    seq = _sequencer(FakeChain(), mode=SequenceMode.TIMESTAMP_NONCE, clock_ms=lambda: NOW_MS)
    seq._last_nonce = NOW_MS + 30_000
    with pytest.raises(InvalidTxInput, match="30 s ahead"):
        await seq.send([_long_term()])


async def test_replicas_use_only_their_own_nonce_residue() -> None:
    """Two replicas in the same millisecond never pick the same timestamp nonce when their
    offsets differ (docs/scaling.md)."""
    chain = FakeChain()
    a = _sequencer(chain, mode=SequenceMode.TIMESTAMP_NONCE, clock_ms=lambda: NOW_MS,
                   nonce_stride=16, nonce_offset=3)  # fmt: skip
    b = _sequencer(chain, mode=SequenceMode.TIMESTAMP_NONCE, clock_ms=lambda: NOW_MS,
                   nonce_stride=16, nonce_offset=9)  # fmt: skip
    sent = await asyncio.gather(*(s.send([_long_term(i)]) for i in range(5) for s in (a, b)))
    nonces = [r.sequence for r in sent]
    assert len(set(nonces)) == 10  # none refused as a duplicate, none re-signed
    assert {n % 16 for n in nonces[0::2]} == {3} and {n % 16 for n in nonces[1::2]} == {9}
    assert all(n >= NOW_MS for n in nonces)
