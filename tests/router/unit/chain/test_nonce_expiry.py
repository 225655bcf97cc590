"""A stateful tx signed with a timestamp nonce is dead once the chain's block time is past the
nonce's window (v4-chain `protocol/x/accountplus/keeper/timestampnonce.go` IsValidTimestampNonce:
nothing older than block time - 30 s passes) and no block holds it: the exchange then says so
(``sequence_consumed``), on the chain's clock, never this machine's, and never for a tx the same
node has in a block."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dydx_router.chain import tx as txb
from dydx_router.chain.authenticators import remove_authenticator_msg
from dydx_router.chain.gateway import DydxExchange
from dydx_router.chain.node import Account
from dydx_router.chain.node.models import LatestBlock, TxResult
from dydx_router.chain.sequencer import (
    NONCE_EXPIRY_MARGIN_MS,
    TIMESTAMP_NONCE_WINDOW_MS,
    nonce_expired,
)
from dydx_router.chain.wallet import Wallet

WALLET = Wallet(bytes(range(1, 33)))
NONCE = 1_767_225_600_123  # unix ms, >= 2^40
DEAD_AFTER_MS = NONCE + TIMESTAMP_NONCE_WINDOW_MS + NONCE_EXPIRY_MARGIN_MS


def at_ms(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def test_a_nonce_is_dead_only_past_the_chains_window_and_the_margin() -> None:
    assert TIMESTAMP_NONCE_WINDOW_MS == 30_000  # timestampnonce.go MaxTimeInPastMs
    assert NONCE_EXPIRY_MARGIN_MS > 0
    assert not nonce_expired(NONCE, at_ms(NONCE))
    assert not nonce_expired(NONCE, at_ms(NONCE + 30_001))  # refused by the chain, but no margin
    assert not nonce_expired(NONCE, at_ms(DEAD_AFTER_MS))
    assert nonce_expired(NONCE, at_ms(DEAD_AFTER_MS + 1))
    assert not nonce_expired(NONCE, at_ms(NONCE - 60_000))  # a block before the nonce: alive
    assert not nonce_expired(41, at_ms(DEAD_AFTER_MS + 1))  # an account sequence: not a nonce


class FakeNode:
    """Answers ``latest_block_and_tx`` (one node, block first) and counts account reads."""

    def __init__(self, block_ms: int, committed: bool = False) -> None:
        self.block_ms = block_ms
        self.committed = committed
        self.asked: list[str] = []
        self.account_reads = 0

    async def latest_block_and_tx(self, tx_hash: str) -> tuple[LatestBlock, TxResult | None]:
        self.asked.append(tx_hash)
        found = TxResult(tx_hash, 9, 0, "", "") if self.committed else None
        return LatestBlock(9, at_ms(self.block_ms)), found

    async def account(self, address: str) -> Account:
        self.account_reads += 1
        return Account(address, 3, 5)


def exchange(node: FakeNode) -> DydxExchange:
    none: Any = None
    return DydxExchange(
        node=node,  # type: ignore[arg-type]
        indexer=none,
        wallet=WALLET,
        sequencer=none,
        heights=none,
        chain_id="test",
        clock=lambda: 0.0,
    )


def signed(sequence: int) -> txb.SignedTx:
    msg = remove_authenticator_msg(WALLET.address, 1)
    return txb.sign_tx(WALLET, [msg], chain_id="test", account_number=3, sequence=sequence)


@pytest.mark.parametrize(
    ("block_ms", "committed", "dead"),
    [
        (DEAD_AFTER_MS + 1, False, True),  # past the window, in no block: can never land
        (DEAD_AFTER_MS, False, False),  # within the margin: it could still be indexed late
        (NONCE + 1_000, False, False),  # inside the window: it may still land
        (DEAD_AFTER_MS + 60_000, True, False),  # in a block: tx_result says what it did
    ],
)
def test_a_timestamp_nonce_tx_is_judged_on_the_chains_block_time(
    block_ms: int, committed: bool, dead: bool
) -> None:
    node = FakeNode(block_ms, committed)
    tx = signed(NONCE)
    assert asyncio.run(exchange(node).sequence_consumed(tx.tx_bytes)) is dead
    assert node.asked == [tx.tx_hash]  # looked up by hash on the node that told the time
    assert node.account_reads == 0  # a nonce says nothing about the account sequence


def test_an_account_sequence_is_still_judged_by_the_account() -> None:
    node = FakeNode(DEAD_AFTER_MS + 1)
    assert asyncio.run(exchange(node).sequence_consumed(signed(4).tx_bytes)) is True
    assert asyncio.run(exchange(node).sequence_consumed(signed(5).tx_bytes)) is False
    assert node.asked == [] and node.account_reads == 2
