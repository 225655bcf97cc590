"""A dry run's ``sign_doc_sha256`` is the digest of the SignDoc a placement would sign: for a
stateful order in timestamp-nonce sequencing (a permissioned key's only mode) that SignDoc
carries a timestamp nonce, as the placement's tx does, not the account sequence. The preview
takes no nonce from the placements."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from v4_proto.cosmos.tx.v1beta1.tx_pb2 import AuthInfo, SignDoc, TxRaw

from dydx_router.chain import tx as txb
from dydx_router.chain.gateway import DydxExchange
from dydx_router.chain.node import Account
from dydx_router.chain.sequencer import SequenceMode, Sequencer
from dydx_router.chain.wallet import Wallet
from dydx_router.domain.market import Side
from dydx_router.domain.order import Order, OrderFlags, OrderStatus, OrderType, TimeInForce
from dydx_router.domain.planning import plan_of

WALLET = Wallet(bytes(range(1, 33)))
NOW_MS = 1_767_225_600_123
ACCOUNT_NUMBER, ACCOUNT_SEQUENCE = 3, 5


class FakeNode:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def account(self, address: str) -> Account:
        return Account(address, ACCOUNT_NUMBER, ACCOUNT_SEQUENCE)

    async def broadcast(self, signed: txb.SignedTx) -> str:
        self.sent.append(signed.tx_bytes)
        return signed.tx_hash


def stateful_order() -> Order:
    return Order(
        id=uuid.uuid4(),
        market="BTC-USD",
        side=Side.BUY,
        type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTT,
        size=Decimal("0.001"),
        price=Decimal("50000"),
        quantums=100_000,
        subticks=5_000_000,
        client_id=7,
        order_flags=OrderFlags.LONG_TERM,
        clob_pair_id=0,
        address=WALLET.address,
        subaccount_number=0,
        indexer_order_id=uuid.uuid4(),
        status=OrderStatus.PENDING,
        filled_size=Decimal(0),
        good_til_block=None,
        good_til_block_time=datetime(2026, 1, 2, tzinfo=UTC) + timedelta(hours=1),
    )


def exchange(mode: SequenceMode) -> tuple[DydxExchange, FakeNode]:
    node = FakeNode()
    none: Any = None
    sequencer = Sequencer(
        node, WALLET, WALLET.address, chain_id="test", mode=mode, clock_ms=lambda: NOW_MS
    )
    ex = DydxExchange(
        node=node,  # type: ignore[arg-type]
        indexer=none,
        wallet=WALLET,
        sequencer=sequencer,
        heights=none,
        chain_id="test",
    )
    return ex, node


def signed_doc_sha256(tx_bytes: bytes) -> tuple[str, int]:
    """The digest of the SignDoc a broadcast tx was signed over, and its sequence."""
    raw = TxRaw.FromString(tx_bytes)
    doc = SignDoc(
        body_bytes=raw.body_bytes,
        auth_info_bytes=raw.auth_info_bytes,
        chain_id="test",
        account_number=ACCOUNT_NUMBER,
    )
    sequence = AuthInfo.FromString(raw.auth_info_bytes).signer_infos[0].sequence
    return hashlib.sha256(doc.SerializeToString()).hexdigest(), sequence


def test_a_stateful_preview_digests_the_timestamp_nonce_its_tx_would_carry() -> None:
    ex, node = exchange(SequenceMode.TIMESTAMP_NONCE)
    order = stateful_order()
    plan = plan_of(order, 100)
    preview = asyncio.run(ex.sign_preview(order, plan))
    # the placement at the same moment signs exactly what the preview digested
    asyncio.run(ex.place_stateful(order, plan))
    (sent,) = node.sent
    digest, sequence = signed_doc_sha256(sent)
    assert sequence == NOW_MS  # the preview reserved no nonce: the placement took this one
    assert preview.sign_doc_sha256 == digest


def test_an_account_sequence_preview_still_digests_the_account_sequence() -> None:
    ex, node = exchange(SequenceMode.ACCOUNT_SEQUENCE)
    order = stateful_order()
    plan = plan_of(order, 100)
    preview = asyncio.run(ex.sign_preview(order, plan))
    asyncio.run(ex.place_stateful(order, plan))
    digest, sequence = signed_doc_sha256(node.sent[0])
    assert sequence == ACCOUNT_SEQUENCE
    assert preview.sign_doc_sha256 == digest
