"""The ante part of CheckTx: decoding, signatures, sequences, timestamp nonces, rate limits, cache.

Sources: `protocol/app/ante.go` (clobAnteHandle order), `app/ante/replay_protection.go`,
`app/ante/sigverify.go`, `x/clob/ante/clob.go`, `x/accountplus/keeper/timestampnonce.go`,
`x/clob/rate_limit/*`, cosmos-sdk `CheckCometError` (sdk/19).
"""

from __future__ import annotations

import hashlib

import pytest
from tests.devnet.unit.txkit import (
    BTC,
    LONG_TERM,
    SELL,
    Chain,
    batch_cancel,
    cancel,
    codes,
    order,
    order_id,
    sign,
    wallet,
)


@pytest.fixture
def chain() -> Chain:
    return Chain.create()


def _stateful(chain: Chain, w: object, client_id: int) -> object:
    return order(
        order_id(w, client_id, flags=LONG_TERM),  # type: ignore[arg-type]
        side=SELL,
        subticks=9_000_000_000,
        gtbt=chain.gtbt(),
    )


def test_tx_hash_is_uppercase_sha256_of_the_bytes(chain: Chain) -> None:
    w = chain.funded(1)
    tx = chain.tx(w, order(order_id(w, 1), gtb=chain.gtb()))
    r = chain.engine.check_tx(tx)
    assert r.ok
    assert r.tx_hash == hashlib.sha256(tx).hexdigest().upper()


def test_undecodable_bytes(chain: Chain) -> None:
    assert codes(chain.engine.check_tx(b"\xff\xff\xff")) == ("sdk", 2)


def test_identical_bytes_resent_hit_the_mempool_cache(chain: Chain) -> None:
    w = chain.funded(1)
    tx = chain.tx(w, order(order_id(w, 1), gtb=chain.gtb()))
    assert chain.engine.check_tx(tx).ok
    again = chain.engine.check_tx(tx)
    assert codes(again) == ("sdk", 19)
    assert again.raw_log == ""


def test_a_rejected_tx_stays_in_the_cache(chain: Chain) -> None:
    # dYdX validators run with KeepInvalidTxsInCache = true
    # (protocol/cmd/dydxprotocold/cmd/config.go): the same bytes again meet the cache, not CheckTx.
    w = chain.funded(1)
    tx = chain.tx(w, order(order_id(w, 1), gtb=chain.height + 100))
    assert codes(chain.engine.check_tx(tx)) == ("clob", 11)
    assert codes(chain.engine.check_tx(tx)) == ("sdk", 19)


def test_flipped_signature_byte_is_unauthorized(chain: Chain) -> None:
    w = chain.funded(1)
    an = chain.account_number(w)
    msg = order(order_id(w, 1), gtb=chain.gtb())
    good = sign(w, [msg], account_number=an)
    from v4_proto.cosmos.tx.v1beta1.tx_pb2 import TxRaw

    raw = TxRaw.FromString(good)
    sig = bytearray(raw.signatures[0])
    sig[10] ^= 0x01
    raw.signatures[0] = bytes(sig)
    r = chain.engine.check_tx(raw.SerializeToString())
    assert codes(r) == ("sdk", 4)
    assert r.raw_log == (
        f"signature verification failed; please verify account number ({an}) and chain-id "
        "(localdydxprotocol): (unable to verify single signer signature): unauthorized"
    )


def test_wrong_chain_id_or_account_number_is_unauthorized(chain: Chain) -> None:
    w = chain.funded(1)
    msg = order(order_id(w, 1), gtb=chain.gtb())
    assert codes(chain.send(w, msg, chain_id="dydx-mainnet-1")) == ("sdk", 4)
    assert codes(chain.send(w, msg, account_number=chain.account_number(w) + 1)) == ("sdk", 4)


def test_signature_checked_for_short_term_orders_even_without_sequence_check(
    chain: Chain,
) -> None:
    w = chain.funded(1)
    other = wallet(99)
    msg = order(order_id(w, 1), gtb=chain.gtb())
    # signed by another key but carrying w's public key: the signature does not verify
    tx = sign(other, [msg], account_number=chain.account_number(w), pub_key=w.public_key)
    assert codes(chain.engine.check_tx(tx)) == ("sdk", 4)


def test_public_key_must_belong_to_the_signer(chain: Chain) -> None:
    w = chain.funded(1)
    other = wallet(99)
    msg = order(order_id(w, 1), gtb=chain.gtb())
    tx = sign(other, [msg], account_number=chain.account_number(w))
    r = chain.engine.check_tx(tx)
    assert codes(r) == ("sdk", 8)
    assert r.raw_log == (
        f"pubKey does not match signer address {w.address} with signer index: 0: invalid pubkey"
    )


def test_first_tx_without_public_key(chain: Chain) -> None:
    w = chain.funded(1)
    r = chain.send(w, order(order_id(w, 1), gtb=chain.gtb()), pub_key=None)
    assert codes(r) == ("sdk", 8)
    assert r.raw_log == "pubkey on account is not set: invalid pubkey"
    # once the account has a key, later txs may omit it
    assert chain.send(w, order(order_id(w, 2), gtb=chain.gtb())).ok
    assert chain.send(w, order(order_id(w, 3), gtb=chain.gtb()), pub_key=None).ok


def test_unknown_account(chain: Chain) -> None:
    w = wallet(5)
    r = chain.send(w, order(order_id(w, 1), gtb=chain.gtb()), account_number=0)
    assert codes(r) == ("sdk", 9)
    assert r.raw_log == f"account {w.address} does not exist: unknown address"


def test_no_signatures(chain: Chain) -> None:
    w = chain.funded(1)
    r = chain.send(w, order(order_id(w, 1), gtb=chain.gtb()), signatures=[])
    assert codes(r) == ("sdk", 15)


def test_memo_too_long(chain: Chain) -> None:
    w = chain.funded(1)
    r = chain.send(w, order(order_id(w, 1), gtb=chain.gtb()), memo="x" * 257)
    assert codes(r) == ("sdk", 12)


def test_timeout_height_passed(chain: Chain) -> None:
    w = chain.funded(1)
    chain.commit(3)
    r = chain.send(w, order(order_id(w, 1), gtb=chain.gtb()), timeout_height=chain.height - 1)
    assert codes(r) == ("sdk", 30)


def test_timeout_height_below_good_til_block_for_short_term_place(chain: Chain) -> None:
    w = chain.funded(1)
    gtb = chain.gtb(10)
    r = chain.send(w, order(order_id(w, 1), gtb=gtb), timeout_height=gtb - 1)
    assert codes(r) == ("sdk", 18)
    assert chain.send(w, order(order_id(w, 2), gtb=gtb), timeout_height=gtb).ok


def test_short_term_message_must_be_alone(chain: Chain) -> None:
    w = chain.funded(1)
    a = order(order_id(w, 1), gtb=chain.gtb())
    b = cancel(order_id(w, 2), gtb=chain.gtb())
    r = chain.send(w, a, b)
    assert codes(r) == ("sdk", 18)
    assert r.raw_log == (
        "a transaction containing short term MsgCancelOrder or MsgPlaceOrder may not contain "
        "more than one message: invalid request"
    )


def test_short_term_with_stateful_is_sequence_checked_then_rejected(chain: Chain) -> None:
    w = chain.funded(1)
    a = order(order_id(w, 1), gtb=chain.gtb())
    b = _stateful(chain, w, 2)
    assert codes(chain.send(w, a, b, sequence=7)) == ("sdk", 32)
    assert codes(chain.send(w, a, b)) == ("sdk", 18)


def test_stale_sequence_on_stateful_order(chain: Chain) -> None:
    w = chain.funded(1)
    assert chain.send(w, _stateful(chain, w, 1)).ok
    chain.commit()
    assert chain.sequence(w) == 1
    r = chain.send(w, _stateful(chain, w, 2), sequence=0)
    assert codes(r) == ("sdk", 32)
    assert r.raw_log == "account sequence mismatch, expected 1, got 0: incorrect account sequence"


def test_sequence_is_checked_before_the_signature(chain: Chain) -> None:
    w = chain.funded(1)
    r = chain.send(w, _stateful(chain, w, 1), sequence=3, chain_id="wrong")
    assert codes(r) == ("sdk", 32)


def test_short_term_txs_skip_and_do_not_consume_the_sequence(chain: Chain) -> None:
    w = chain.funded(1)
    for i, seq in enumerate((0, 17, 2**39)):
        assert chain.send(w, order(order_id(w, i + 1), gtb=chain.gtb()), sequence=seq).ok
    assert chain.send(w, cancel(order_id(w, 9), gtb=chain.gtb()), sequence=5).ok
    assert chain.send(w, batch_cancel(w, {BTC: [1]}, chain.gtb()), sequence=5).ok
    chain.commit()
    assert chain.sequence(w) == 0


def test_stateful_txs_consume_the_sequence_in_check_state(chain: Chain) -> None:
    w = chain.funded(1)
    assert chain.send(w, _stateful(chain, w, 1), sequence=0).ok
    # two stateful txs in one block need local tracking: the second carries 1
    assert codes(chain.send(w, _stateful(chain, w, 2), sequence=0)) == ("sdk", 32)
    assert chain.send(w, _stateful(chain, w, 2), sequence=1).ok
    assert chain.sequence(w) == 0  # the committed sequence moves with the block
    chain.commit()
    assert chain.sequence(w) == 2


def test_a_rejected_stateful_tx_does_not_consume_the_sequence(chain: Chain) -> None:
    w = chain.funded(1)
    assert chain.send(w, _stateful(chain, w, 1), sequence=0).ok
    assert codes(chain.send(w, _stateful(chain, w, 1), sequence=1)) == ("clob", 3005)
    # the rejected attempt still counted against the 2-per-block stateful rate limit
    assert codes(chain.send(w, _stateful(chain, w, 2), sequence=1)) == ("clob", 5001)
    chain.commit()
    assert chain.sequence(w) == 1
    # other bytes (a memo): the rejected ones stay in the tx cache (sdk/19)
    assert chain.send(w, _stateful(chain, w, 2), sequence=1, memo="again").ok


def test_timestamp_nonce(chain: Chain) -> None:
    w = chain.funded(1)
    now_ms = chain.state.block_time_ms
    assert chain.send(w, _stateful(chain, w, 1), sequence=now_ms).ok
    # reusing a nonce is rejected
    r = chain.send(w, _stateful(chain, w, 2), sequence=now_ms)
    assert codes(r) == ("sdk", 32)
    assert r.raw_log == f"timestamp nonce {now_ms} rejected: incorrect account sequence"
    # outside blockTime ± 30 s
    late = now_ms + 31_000
    r = chain.send(w, _stateful(chain, w, 3), sequence=late)
    assert codes(r) == ("sdk", 32)
    assert r.raw_log == (
        f"timestamp nonce {late} not within valid time window: incorrect account sequence"
    )
    assert chain.send(w, _stateful(chain, w, 4), sequence=now_ms + 1).ok
    chain.commit()
    # timestamp-nonce txs do not increment the sequence
    assert chain.sequence(w) == 0


def test_short_term_rate_limit_per_account() -> None:
    chain = Chain.create(short_term_limit=3)
    w = chain.funded(1)
    other = chain.funded(2)
    for i in range(3):
        assert chain.send(w, order(order_id(w, i + 1), gtb=chain.gtb())).ok
    r = chain.send(w, cancel(order_id(w, 1), gtb=chain.gtb()))
    assert codes(r) == ("clob", 5001)
    assert r.raw_log == (
        "Rate of 4 exceeds configured block rate limit of {NumBlocks:5 Limit:3} for "
        f"MaxShortTermOrdersAndCancelsPerNBlocks and {w.address}: Block rate limit exceeded"
    )
    assert chain.send(other, order(order_id(other, 1), gtb=chain.gtb())).ok
    chain.commit(4)
    assert codes(chain.send(w, order(order_id(w, 20), gtb=chain.gtb()))) == ("clob", 5001)
    chain.commit(1)
    assert chain.send(w, order(order_id(w, 21), gtb=chain.gtb())).ok


def test_batch_cancel_counts_twice() -> None:
    chain = Chain.create(short_term_limit=3)
    w = chain.funded(1)
    assert chain.send(w, batch_cancel(w, {BTC: [1]}, chain.gtb())).ok
    assert chain.send(w, order(order_id(w, 2), gtb=chain.gtb())).ok
    assert codes(chain.send(w, order(order_id(w, 3), gtb=chain.gtb()))) == ("clob", 5001)


def test_stateful_rate_limit_two_per_block(chain: Chain) -> None:
    w = chain.funded(1, usdc="1000000")
    assert chain.send(w, _stateful(chain, w, 1)).ok
    assert chain.send(w, _stateful(chain, w, 2)).ok
    r = chain.send(w, _stateful(chain, w, 3))
    assert codes(r) == ("clob", 5001)
    chain.commit()
    # other bytes (a memo): the rejected ones stay in the tx cache (sdk/19)
    assert chain.send(w, _stateful(chain, w, 3), memo="again").ok
