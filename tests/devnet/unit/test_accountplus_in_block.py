"""The ante handler again in the block: FinalizeBlock runs it for every tx (`protocol/app/ante.go`
clobAnteHandle, `x/accountplus/ante/ante.go` AuthenticatorDecorator), so a tx that selected an
authenticator removed earlier in the same block fails there with dydxaccountplus/1, and, as
cosmos-sdk v0.50 `baseapp.go` runTx keeps no write of a failed ante, changes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.devnet.unit.test_accountplus import PLACE, Fixture, trading_config
from tests.devnet.unit.txkit import LONG_TERM, order, order_id
from v4_proto.dydxprotocol.accountplus.tx_pb2 import MsgAddAuthenticator, MsgRemoveAuthenticator

from dydx_devnet.cometrpc import encode
from dydx_devnet.events import OrderPlaced
from dydx_devnet.validator import TxResult


@pytest.fixture
def fx() -> Fixture:
    f = Fixture()
    f.add("AllOf", trading_config(f.trader.public_key))
    return f


def _long_term(fx: Fixture, client_id: int) -> Any:
    return order(
        order_id(fx.owner, client_id, flags=LONG_TERM), gtbt=fx.chain.gtbt(), subticks=2_000_000_000
    )


def _remove_then_place(fx: Fixture, nonce: int | None) -> TxResult:
    """The owner removes authenticator 0 and the trading key places with it, both accepted by
    CheckTx (which runs no message), in the same block."""
    remove = fx.send_as(fx.owner, [MsgRemoveAuthenticator(sender=fx.owner.address, id=0)])
    assert remove.ok, remove
    placed = fx.send_as(fx.trader, [_long_term(fx, 9)], authenticators=(0,), sequence=nonce)
    assert placed.ok, placed
    return placed


@pytest.mark.parametrize("timestamp_nonce", [True, False], ids=["timestamp-nonce", "sequence"])
def test_an_order_whose_authenticator_the_block_removed_fails_in_the_block(
    fx: Fixture, timestamp_nonce: bool
) -> None:
    nonce = fx.chain.state.block_time_ms if timestamp_nonce else None
    sequence = fx.chain.sequence(fx.owner)
    sub = fx.chain.bus.subscribe()
    placed = _remove_then_place(fx, nonce)
    fx.chain.commit()

    committed = fx.chain.engine.committed_txs[placed.tx_hash]  # what GetTx answers the router
    assert (committed.codespace, committed.code) == ("dydxaccountplus", 1)
    assert committed.raw_log == (
        f"failed to get initialized authenticator (account = {fx.owner.address}, authenticator "
        f"id = 0, msg index = 0, msg type url = {PLACE}): authenticator 0 not found for account "
        f"{fx.owner.address}: Authenticator is not found"
    )
    result = encode.tx_result(fx.chain.engine, committed)["tx_result"]  # the CometBFT RPC
    assert (result["codespace"], result["code"]) == ("dydxaccountplus", 1)
    assert placed.tx_hash in fx.chain.engine.blocks[fx.chain.height].txs  # still in the block

    # nothing of it was applied: no order, no event for the indexer, nothing consumed
    assert fx.chain.state.open_orders() == []
    placements = [e for b in sub.drain() for e in b.events if isinstance(e, OrderPlaced)]
    assert [e for e in placements if e.order.order_id.client_id == 9] == []
    assert fx.chain.sequence(fx.owner) == sequence + 1  # the remove's only
    if nonce is not None:
        assert fx.chain.state.timestamp_nonces.get(fx.owner.address) is None
        # the nonce is free again: the owner's own tx with it is accepted
        again = fx.send_as(fx.owner, [_long_term(fx, 10)], sequence=nonce)
        assert again.ok, again


def test_a_later_tx_of_the_signer_then_has_the_wrong_sequence(fx: Fixture) -> None:
    """The refused tx consumed no sequence, so the owner's next one in the block is one ahead."""
    sequence = fx.chain.sequence(fx.owner)
    _remove_then_place(fx, None)
    add = MsgAddAuthenticator(
        sender=fx.owner.address,
        authenticator_type="SignatureVerification",
        data=fx.trader.public_key,
    )
    r = fx.send_as(fx.owner, [add])
    assert r.ok, r
    fx.chain.commit()
    committed = fx.chain.engine.committed_txs[r.tx_hash]
    assert (committed.codespace, committed.code) == ("sdk", 32)
    assert committed.raw_log == (
        f"account sequence mismatch, expected {sequence + 1}, got {sequence + 2}: "
        "incorrect account sequence"
    )
    assert fx.chain.state.authenticators.of(fx.owner.address) == []
    assert fx.chain.sequence(fx.owner) == sequence + 1


def test_an_authenticator_still_there_is_placed_in_the_block(fx: Fixture) -> None:
    nonce = fx.chain.state.block_time_ms
    placed = fx.send_as(fx.trader, [_long_term(fx, 9)], authenticators=(0,), sequence=nonce)
    assert placed.ok, placed
    fx.chain.commit()
    assert fx.chain.engine.committed_txs[placed.tx_hash].code == 0
    assert [o.order.order_id.client_id for o in fx.chain.state.open_orders()] == [9]
    held = fx.chain.state.timestamp_nonces[fx.owner.address]
    assert held.nonces == [nonce]
