"""x/accountplus on the devnet engine: MsgAddAuthenticator / MsgRemoveAuthenticator delivered in
blocks, the authenticator decorator in CheckTx, and each refusal's (codespace, code, raw_log).

Sources: `protocol/x/accountplus/ante/ante.go`, `authenticator/*.go`, `keeper/authenticators.go`,
`types/errors.go` (v9.6.1). The txs are signed by the router's builder (`chain.tx.sign_tx`).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from tests.devnet.unit.txkit import (
    BTC,
    CHAIN_ID,
    ETH,
    IOC,
    LONG_TERM,
    SELL,
    Chain,
    order,
    order_id,
    wallet,
)
from v4_proto.dydxprotocol.accountplus.tx_pb2 import MsgAddAuthenticator, MsgRemoveAuthenticator

from dydx_devnet.events import OrderRemoved, RemovalReason
from dydx_devnet.validator import TxResult
from dydx_router.chain import tx as txb
from dydx_router.chain.wallet import Wallet

PLACE = "/dydxprotocol.clob.MsgPlaceOrder"
CANCEL = "/dydxprotocol.clob.MsgCancelOrder"
BATCH = "/dydxprotocol.clob.MsgBatchCancel"


def sub(t: str, config: bytes) -> dict[str, Any]:
    return {"type": t, "config": base64.b64encode(config).decode()}


def trading_config(pub_key: bytes, subaccounts: str = "0", clobs: str = "0") -> bytes:
    """AllOf(SignatureVerification, AnyOf(MessageFilter x3), SubaccountFilter, ClobPairIdFilter)."""
    any_of = json.dumps([sub("MessageFilter", u.encode()) for u in (PLACE, CANCEL, BATCH)])
    return json.dumps(
        [
            sub("SignatureVerification", pub_key),
            sub("AnyOf", any_of.encode()),
            sub("SubaccountFilter", subaccounts.encode()),
            sub("ClobPairIdFilter", clobs.encode()),
        ]
    ).encode()


class Fixture:
    def __init__(self) -> None:
        self.chain = Chain.create()
        self.owner = self.chain.funded(1)
        self.trader = wallet(2)  # never funded: it has no account of its own
        self.chain.commit()

    def send_as(
        self, signer: Wallet, msgs: list[Any], *, authenticators: tuple[int, ...] = (),
        sequence: int | None = None,
    ) -> TxResult:  # fmt: skip
        acc = self.chain.state.account(self.owner.address)
        assert acc is not None
        seq = self.chain.engine.next_sequence(self.owner.address) if sequence is None else sequence
        signed = txb.sign_tx(
            signer, msgs, chain_id=CHAIN_ID, account_number=acc.account_number,
            sequence=seq or 0, authenticators=authenticators,
        )  # fmt: skip
        return self.chain.engine.check_tx(signed.tx_bytes)

    def add(self, auth_type: str, config: bytes) -> TxResult:
        msg = MsgAddAuthenticator(
            sender=self.owner.address, authenticator_type=auth_type, data=config
        )
        r = self.send_as(self.owner, [msg])
        assert r.ok, r
        self.chain.commit()
        return r

    def place(self, *, clob: int = BTC, number: int = 0, client_id: int = 1) -> Any:
        oid = order_id(self.owner, client_id, clob=clob, number=number)
        return order(
            oid, gtb=self.chain.gtb(), subticks=2_000_000_000 if clob == BTC else 200_000_000
        )


@pytest.fixture
def fx() -> Fixture:
    f = Fixture()
    f.add("AllOf", trading_config(f.trader.public_key))
    return f


def test_add_authenticator_is_stored_when_the_block_delivers_it(fx: Fixture) -> None:
    stored = fx.chain.state.authenticators.of(fx.owner.address)
    assert [(a.id, a.type) for a in stored] == [(0, "AllOf")]
    assert stored[0].config == trading_config(fx.trader.public_key)
    assert fx.chain.state.authenticators.next_id == 1


def test_the_trading_key_places_for_the_owner(fx: Fixture) -> None:
    r = fx.send_as(fx.trader, [fx.place()], authenticators=(0,))
    assert r.ok, r
    # the trading key is not stored on the owner's account (SetPubKeyDecorator does not run)
    acc = fx.chain.state.account(fx.owner.address)
    assert acc is not None and acc.pub_key == fx.owner.public_key  # from the owner's add tx


def test_a_market_outside_the_filter_is_refused_with_all_of_104(fx: Fixture) -> None:
    r = fx.send_as(fx.trader, [fx.place(clob=ETH)], authenticators=(0,))
    assert (r.codespace, r.code) == ("dydxaccountplus", 104)
    assert r.raw_log == (
        "authentication failed for message 0, authenticator id 0, type AllOf: "
        "order id 1 not in whitelist map[0:{}]: Clob pair id verification failed: "
        "AllOf verification failed"
    )


def test_a_subaccount_outside_the_filter_is_refused(fx: Fixture) -> None:
    r = fx.send_as(fx.trader, [fx.place(number=1)], authenticators=(0,))
    assert (r.codespace, r.code) == ("dydxaccountplus", 104)
    assert "subaccount number 1 not in whitelist map[0:{}]: Subaccount verification failed" in (
        r.raw_log
    )


def test_another_key_fails_signature_verification(fx: Fixture) -> None:
    r = fx.send_as(wallet(3), [fx.place()], authenticators=(0,))
    assert (r.codespace, r.code) == ("dydxaccountplus", 104)
    acc = fx.chain.state.account(fx.owner.address)
    assert acc is not None
    assert (
        f"signature verification failed; please verify account number ({acc.account_number}), "
        f"sequence ({acc.sequence}) and chain-id ({CHAIN_ID}): Signature verification failed"
    ) in r.raw_log


def test_a_message_type_outside_the_filter_names_every_any_of_branch(fx: Fixture) -> None:
    msg = MsgRemoveAuthenticator(sender=fx.owner.address, id=0)
    r = fx.send_as(fx.trader, [msg], authenticators=(0,))
    assert (r.codespace, r.code) == ("dydxaccountplus", 104)
    assert (
        "all sub-authenticators failed to authenticate: [MessageFilter (id = 0.1.0)] message "
        "types do not match. Got /dydxprotocol.accountplus.MsgRemoveAuthenticator, Expected "
        "map[/dydxprotocol.clob.MsgPlaceOrder:{}]: Message type verification failed; ; "
    ) in r.raw_log


def test_an_unknown_authenticator_id_is_code_1(fx: Fixture) -> None:
    r = fx.send_as(fx.trader, [fx.place()], authenticators=(7,))
    assert (r.codespace, r.code) == ("dydxaccountplus", 1)
    assert r.raw_log == (
        f"failed to get initialized authenticator (account = {fx.owner.address}, authenticator "
        f"id = 7, msg index = 0, msg type url = {PLACE}): authenticator 7 not found for account "
        f"{fx.owner.address}: Authenticator is not found"
    )


def test_one_selected_authenticator_per_message(fx: Fixture) -> None:
    r = fx.send_as(fx.trader, [fx.place()], authenticators=(0, 0))
    assert (r.codespace, r.code) == ("sdk", 18)
    assert "msg count 1, got 2 selected authenticators" in r.raw_log


def test_without_the_extension_the_trading_key_is_not_the_owner(fx: Fixture) -> None:
    r = fx.send_as(fx.trader, [fx.place()])
    assert (r.codespace, r.code) == ("sdk", 8)


def test_stateful_orders_take_timestamp_nonces_of_the_owner(fx: Fixture) -> None:
    oid = order_id(fx.owner, 9, flags=LONG_TERM)
    msg = order(oid, gtbt=fx.chain.gtbt(), subticks=2_000_000_000)
    before = fx.chain.sequence(fx.owner)
    r = fx.send_as(fx.trader, [msg], authenticators=(0,), sequence=fx.chain.state.block_time_ms)
    assert r.ok, r
    fx.chain.commit()
    assert fx.chain.sequence(fx.owner) == before  # a timestamp nonce consumes no sequence


def test_after_remove_every_order_is_refused(fx: Fixture) -> None:
    r = fx.send_as(fx.owner, [MsgRemoveAuthenticator(sender=fx.owner.address, id=0)])
    assert r.ok, r
    fx.chain.commit()
    assert fx.chain.state.authenticators.of(fx.owner.address) == []
    r = fx.send_as(fx.trader, [fx.place()], authenticators=(0,))
    assert (r.codespace, r.code) == ("dydxaccountplus", 1)


def test_an_unsafe_authenticator_fails_in_the_block_not_in_check_tx() -> None:
    f = Fixture()
    r = f.add("MessageFilter", PLACE.encode())  # CheckTx runs no message: accepted
    committed = f.chain.engine.committed_txs[r.tx_hash]
    assert (committed.codespace, committed.code) == ("undefined", 1)
    assert committed.raw_log.startswith(
        "failed to execute message; message index: 0: unsafe: authenticator tree does not "
        "require signature verification all possible paths, type = MessageFilter, config = [47 "
    )
    assert f.chain.state.authenticators.of(f.owner.address) == []
    assert f.chain.state.authenticators.next_id == 0  # ids are consumed only on success


def test_a_short_public_key_is_refused_in_the_block() -> None:
    f = Fixture()
    r = f.add("SignatureVerification", b"\x02" * 10)
    committed = f.chain.engine.committed_txs[r.tx_hash]
    assert committed.raw_log == (
        "failed to execute message; message index: 0: `OnAuthenticatorAdded` failed on "
        "authenticator type SignatureVerification: invalid secp256k1 public key size, expected "
        "33, got 10"
    )


def test_the_official_clients_composition_encoding_is_read() -> None:
    """dydx-v4-client 1.1.5 `Authenticator.compose` writes config as a JSON array of numbers;
    Go's encoding/json reads that into []byte as well as base64."""
    f = Fixture()
    subs = [
        {"type": "SignatureVerification", "config": list(f.trader.public_key)},
        {"type": "ClobPairIdFilter", "config": list(b"0,1")},
    ]
    f.add("AllOf", json.dumps(subs, separators=(",", ":")).encode())
    assert f.send_as(f.trader, [f.place(clob=ETH)], authenticators=(0,)).ok


def test_get_authenticators_order_is_the_stores_key_order() -> None:
    f = Fixture()
    for _ in range(11):
        f.add("SignatureVerification", f.trader.public_key)
    ids = [a.id for a in f.chain.state.authenticators.of(f.owner.address)]
    assert ids == [0, 1, 10, 2, 3, 4, 5, 6, 7, 8, 9]


def test_every_validator_sees_an_authenticator_once_a_block_commits_it() -> None:
    """The store is chain state: the proposer delivers the add, every other validator resets
    from the committed state and authenticates with it (`engine._reconcile`)."""
    chain = Chain.create(validators=3)
    owner, trader = chain.funded(1), wallet(2)
    chain.commit()
    acc = chain.state.account(owner.address)
    assert acc is not None
    add = MsgAddAuthenticator(
        sender=owner.address, authenticator_type="AllOf", data=trading_config(trader.public_key)
    )
    signed = txb.sign_tx(
        owner, [add], chain_id=CHAIN_ID, account_number=acc.account_number, sequence=acc.sequence
    )
    assert chain.engine.broadcast(0, signed.tx_bytes).ok
    chain.commit(3)  # whoever proposes, the gossiped add is delivered once
    assert [a.id for a in chain.state.authenticators.of(owner.address)] == [0]
    for i in range(3):
        oid = order_id(owner, 10 + i)
        place = order(oid, gtb=chain.gtb(), subticks=2_000_000_000)
        tx_bytes = txb.sign_tx(
            trader, [place], chain_id=CHAIN_ID, account_number=acc.account_number, sequence=0,
            authenticators=(0,),
        ).tx_bytes  # fmt: skip
        r = chain.engine.broadcast(i, tx_bytes)
        assert r.ok, (i, r)


def test_a_short_term_order_for_an_unknown_account_finds_no_authenticator() -> None:
    """Short-term txs skip replay protection, so the authenticator lookup answers first."""
    chain = Chain.create()
    stranger, trader = wallet(77), wallet(78)
    place = order(order_id(stranger, 1), gtb=chain.gtb(), subticks=2_000_000_000)
    signed = txb.sign_tx(
        trader, [place], chain_id=CHAIN_ID, account_number=0, sequence=0, authenticators=(0,)
    )
    r = chain.engine.check_tx(signed.tx_bytes)
    assert (r.codespace, r.code) == ("dydxaccountplus", 1)


def test_the_comet_rpc_reports_a_failed_delivery_too() -> None:
    """`tx` / `block_results` over the CometBFT RPC carry the DeliverTx failure (ExecTxResult)."""
    from dydx_devnet.cometrpc import encode

    f = Fixture()
    r = f.add("MessageFilter", PLACE.encode())
    ct = f.chain.engine.committed_txs[r.tx_hash]
    result = encode.tx_result(f.chain.engine, ct)["tx_result"]
    assert (result["codespace"], result["code"]) == ("undefined", 1)
    assert result["log"].startswith("failed to execute message; message index: 0: unsafe")


@pytest.mark.parametrize("revoked", [False, True])
def test_a_resting_short_term_order_of_a_revoked_key_is_removed_not_filled(
    fx: Fixture, revoked: bool
) -> None:
    """`x/clob/memclob/memclob.go` mustPerformTakerOrderMatching: a short-term maker whose tx's
    authenticators are gone (MaybeValidateAuthenticators) is removed with
    REMOVAL_REASON_PERMISSIONED_KEY_EXPIRED (the indexer's EXPIRED) instead of filled."""
    maker = fx.place()
    assert fx.send_as(fx.trader, [maker], authenticators=(0,)).ok
    if revoked:
        r = fx.send_as(fx.owner, [MsgRemoveAuthenticator(sender=fx.owner.address, id=0)])
        assert r.ok, r
        fx.chain.commit()
    taker = fx.chain.funded(3)
    sub = fx.chain.bus.subscribe()
    price = maker.order.subticks
    r = fx.chain.send(
        taker, order(order_id(taker, 1), side=SELL, subticks=price, gtb=fx.chain.gtb(), tif=IOC)
    )
    assert r.ok, r
    owner = fx.chain.state.subaccount(fx.owner.address, 0)
    assert owner is not None
    position = owner.position(0)
    filled = position.quantums if position else 0
    assert filled == (0 if revoked else maker.order.quantums)
    assert fx.chain.state.open_orders() == []
    removed = [e for b in sub.drain() for e in b.events if isinstance(e, OrderRemoved)]
    expired = [e for e in removed if e.reason == RemovalReason.EXPIRED]
    assert len(expired) == (1 if revoked else 0)
