"""x/accountplus rules, each with the chain's (codespace, code) and text: timestamp nonces
(`protocol/x/accountplus/keeper/timestampnonce.go`, `ante/timestampnonce.go`), nested
AllOf/AnyOf ids (`authenticator/composite.go` compositeId, `any_of.go`), MsgAddAuthenticator's
ValidateBasic (`types/message_add_authenticator.go`), the filters on MsgBatchCancel
(`clob_pair_id_filter.go`, `subaccount_filter.go`) and a filter config that does not parse.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.devnet.unit.test_accountplus import BATCH, CANCEL, PLACE, Fixture, sub, trading_config
from tests.devnet.unit.txkit import LONG_TERM, Chain, codes, order, order_id, sign_multi
from v4_proto.dydxprotocol.accountplus.tx_pb2 import MsgAddAuthenticator, MsgRemoveAuthenticator
from v4_proto.dydxprotocol.clob.tx_pb2 import MsgBatchCancel, OrderBatch
from v4_proto.dydxprotocol.subaccounts.subaccount_pb2 import SubaccountId

from dydx_devnet import errors as E
from dydx_devnet.accountplus.nonces import NonceState, process_timestamp_nonce

T = 1_700_000_000_000  # a block time, ms


@pytest.fixture
def fx() -> Fixture:
    f = Fixture()
    f.add("AllOf", trading_config(f.trader.public_key))
    return f


# ---- timestamp nonces -------------------------------------------------------------------------
def _refusal(current: NonceState | None, nonce: int) -> tuple[str, int, str]:
    with pytest.raises(E.TxError) as e:
        process_timestamp_nonce(current, nonce, T)
    return (e.value.codespace, e.value.code, e.value.raw_log)


@pytest.mark.parametrize(
    ("current", "nonce", "why"),
    [
        (None, T - 30_001, "not within valid time window"),
        (None, T + 30_001, "not within valid time window"),
        (NonceState([T - 5], 0), T - 5, "rejected"),  # held already
        # not above the largest ejected, though there is room (the keeper's own test state)
        (NonceState([T], T - 10), T - 10, "rejected"),
        (NonceState([T], T - 10), T - 11, "rejected"),
        # stale nonces are ejected first: the largest of them becomes the maximum ejected
        (NonceState([T - 40_000, T - 31_000], 0), T - 30_000 - 1, "not within valid time window"),
        # 20 held: not above the smallest
        (NonceState([T - 20 + i for i in range(20)], 0), T - 20, "rejected"),
        (NonceState([T - 20 + i for i in range(20)], 0), T - 21, "rejected"),
    ],
)
def test_a_timestamp_nonce_is_refused(current: NonceState | None, nonce: int, why: str) -> None:
    assert _refusal(current, nonce) == (
        "sdk",
        32,
        f"timestamp nonce {nonce} {why}: incorrect account sequence",
    )


def test_the_window_is_inclusive_and_stale_nonces_are_ejected() -> None:
    assert process_timestamp_nonce(None, T - 30_000, T) == NonceState([T - 30_000], 0)
    assert process_timestamp_nonce(None, T + 30_000, T) == NonceState([T + 30_000], 0)
    st = process_timestamp_nonce(NonceState([T - 40_000, T - 31_000, T - 1], 7), T, T)
    assert st == NonceState([T - 1, T], T - 31_000)


def test_the_twenty_first_nonce_evicts_the_smallest() -> None:
    held = [T - 1, T - 30, *[T - i for i in range(2, 19)], T - 30]  # 20, the minimum twice
    before = NonceState(list(held), 0)
    st = process_timestamp_nonce(before, T - 29, T)
    assert len(st.nonces) == 20
    assert st.nonces[1] == T - 29 and st.nonces[-1] == T - 30  # the first smallest is replaced
    assert st.max_ejected == T - 30
    assert before.nonces == held  # the keeper writes only on success
    # the evicted value, and anything not above it, is refused from now on
    assert _refusal(st, T - 30)[1] == 32


def test_check_tx_holds_twenty_nonces_per_account(fx: Fixture) -> None:
    """MsgRemoveAuthenticator carries no rate limit and runs no message in CheckTx."""
    base = fx.chain.state.block_time_ms

    def remove(i: int, nonce: int) -> Any:
        m = MsgRemoveAuthenticator(sender=fx.owner.address, id=100 + i)
        return fx.send_as(fx.owner, [m], sequence=nonce)

    for i in range(20):
        assert remove(i, base - 100 + i).ok
    r = remove(20, base - 101)  # below the smallest held
    assert (r.codespace, r.code, r.raw_log) == (
        "sdk",
        32,
        f"timestamp nonce {base - 101} rejected: incorrect account sequence",
    )
    assert remove(21, base).ok  # evicts base - 100
    r = remove(22, base - 100)
    assert (r.codespace, r.code) == ("sdk", 32)


# ---- several signatures -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("first_ts", "second_ts"), [(False, False), (True, False), (False, True), (True, True)]
)
def test_several_signatures_may_not_carry_a_timestamp_nonce(
    first_ts: bool, second_ts: bool
) -> None:
    chain = Chain.create()
    a, b = chain.funded(1), chain.funded(2)
    chain.commit()
    now = chain.state.block_time_ms
    msgs = [
        order(order_id(w, 1, flags=LONG_TERM), gtbt=chain.gtbt(), subticks=2_000_000_000)
        for w in (a, b)
    ]
    signers = [
        (w, chain.account_number(w), now if ts else chain.sequence(w))
        for w, ts in ((a, first_ts), (b, second_ts))
    ]
    r = chain.engine.check_tx(sign_multi(signers, msgs))
    if not (first_ts or second_ts):
        assert r.ok, r
        return
    assert (r.codespace, r.code, r.raw_log) == (
        "sdk",
        2,
        "multi signature contains timestampnonce: tx parse error",
    )
    assert chain.engine.next_sequence(a.address) == chain.sequence(a)  # nothing kept


# ---- nested composites --------------------------------------------------------------------------
def test_nested_any_of_names_each_branch_by_its_composite_id(fx: Fixture) -> None:
    inner = json.dumps(
        [sub("MessageFilter", CANCEL.encode()), sub("MessageFilter", BATCH.encode())]
    )
    outer = json.dumps([sub("AnyOf", inner.encode()), sub("ClobPairIdFilter", b"1")])
    config = json.dumps(
        [sub("SignatureVerification", fx.trader.public_key), sub("AnyOf", outer.encode())]
    )
    fx.add("AllOf", config.encode())  # id 1
    r = fx.send_as(fx.trader, [fx.place()], authenticators=(1,))

    def mf(expected: str) -> str:
        return (
            f"message types do not match. Got {PLACE}, Expected map[{expected}:{{}}]: "
            "Message type verification failed"
        )

    inner_err = (
        f"all sub-authenticators failed to authenticate: [MessageFilter (id = 1.1.0.0)] "
        f"{mf(CANCEL)}; ; [MessageFilter (id = 1.1.0.1)] {mf(BATCH)}; : AnyOf verification failed"
    )
    outer_err = (
        f"all sub-authenticators failed to authenticate: [AnyOf (id = 1.1.0)] {inner_err}; ; "
        "[ClobPairIdFilter (id = 1.1.1)] order id 0 not in whitelist map[1:{}]: Clob pair id "
        "verification failed; : AnyOf verification failed"
    )
    assert codes(r) == ("dydxaccountplus", 104)
    assert r.raw_log == (
        "authentication failed for message 0, authenticator id 1, type AllOf: "
        f"{outer_err}: AllOf verification failed"
    )


# ---- MsgAddAuthenticator.ValidateBasic --------------------------------------------------------
@pytest.mark.parametrize(
    ("sender_ok", "size", "expected"),
    [
        (False, 33, ("dydxaccountplus", 2, "Invalid account address")),
        (True, 1025, ("dydxaccountplus", 3, "Authenticator data exceeds maximum length")),
        (True, 1024, ("", 0, "")),  # the limit itself passes (and fails in the block)
    ],
)
def test_add_authenticator_validate_basic(
    sender_ok: bool, size: int, expected: tuple[str, int, str]
) -> None:
    f = Fixture()
    sender = f.owner.address if sender_ok else f.owner.address[:-1] + "x"
    msg = MsgAddAuthenticator(
        sender=sender, authenticator_type="SignatureVerification", data=b"\x02" * size
    )
    r = f.send_as(f.owner, [msg])
    assert (r.codespace, r.code, r.raw_log) == expected


# ---- MsgBatchCancel under the filters -------------------------------------------------------
@pytest.mark.parametrize(
    ("number", "clobs", "failure"),
    [
        (0, [0], None),
        (0, [0, 1], "order id 1 not in whitelist map[0:{}]: Clob pair id verification failed"),
        (1, [0], "subaccount number 1 not in whitelist map[0:{}]: Subaccount verification failed"),
    ],
)
def test_batch_cancel_under_the_filters(
    fx: Fixture, number: int, clobs: list[int], failure: str | None
) -> None:
    msg = MsgBatchCancel(
        subaccount_id=SubaccountId(owner=fx.owner.address, number=number),
        short_term_cancels=[OrderBatch(clob_pair_id=c, client_ids=[1]) for c in clobs],
        good_til_block=fx.chain.gtb(),
    )
    r = fx.send_as(fx.trader, [msg], authenticators=(0,))
    if failure is None:
        assert r.ok, r
        return
    assert codes(r) == ("dydxaccountplus", 104)
    assert r.raw_log == (
        "authentication failed for message 0, authenticator id 0, type AllOf: "
        f"{failure}: AllOf verification failed"
    )


# ---- a filter config that does not parse -------------------------------------------------------
@pytest.mark.parametrize(
    ("auth_type", "config", "go_error"),
    [
        ("ClobPairIdFilter", b"x", 'strconv.ParseUint: parsing "x": invalid syntax'),
        (
            "ClobPairIdFilter",
            b"4294967296",
            'strconv.ParseUint: parsing "4294967296": value out of range',
        ),
        ("SubaccountFilter", b"0,,1", 'strconv.ParseUint: parsing "": invalid syntax'),
        ("SubaccountFilter", b"-1", 'strconv.ParseUint: parsing "-1": invalid syntax'),
    ],
)
def test_a_filter_config_that_does_not_parse_is_stored_then_fails_to_initialize(
    fx: Fixture, auth_type: str, config: bytes, go_error: str
) -> None:
    """A filter's OnAuthenticatorAdded is a no-op, so the block stores it; `Initialize` then
    fails on every use, an unregistered Go error: (undefined, 1)."""
    fx.add("AllOf", json.dumps([sub("SignatureVerification", fx.trader.public_key),
                                sub(auth_type, config)]).encode())  # fmt: skip
    assert [a.id for a in fx.chain.state.authenticators.of(fx.owner.address)] == [0, 1]
    r = fx.send_as(fx.trader, [fx.place()], authenticators=(1,))
    owner = fx.owner.address
    assert codes(r) == ("undefined", 1)
    assert r.raw_log == (
        f"failed to get initialized authenticator (account = {owner}, authenticator id = 1, "
        f"msg index = 0, msg type url = {PLACE}): authenticator 1 with type AllOf failed to "
        f"initialize for account {owner}: failed to initialize sub-authenticator (type = "
        f"{auth_type}): {go_error}"
    )
