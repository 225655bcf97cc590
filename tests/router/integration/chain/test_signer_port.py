"""The key-custody port (docs/security.md, "Key custody"): the exchange gateway works with any
`chain.tx.Signer` (a public key and `sign`), not only with the mnemonic `Wallet`, as a KMS or HSM
adapter would give it. Over the devnet's real sockets."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.router.integration.chain.helpers import CHAIN_ID

from dydx_router.chain import tx
from dydx_router.chain.authenticators import remove_authenticator_msg
from dydx_router.chain.gateway import DydxExchange
from dydx_router.chain.height import HeightCache
from dydx_router.chain.indexer import IndexerClient
from dydx_router.chain.node import NodeClient
from dydx_router.chain.sequencer import Sequencer
from dydx_router.chain.wallet import Wallet, address_of

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


class KeyOnlySigner:
    """What a KMS adapter offers: the compressed public key and `sign`, nothing else (no
    address, no key, no mnemonic)."""

    __slots__ = ("_sign", "public_key")

    def __init__(self, wallet: Wallet) -> None:
        self.public_key = wallet.public_key
        self._sign = wallet.sign

    def sign(self, sign_doc: bytes, /) -> bytes:
        return self._sign(sign_doc)


async def test_the_gateway_reads_and_signs_through_the_port_only(
    funded: Wallet, node: NodeClient, indexer: IndexerClient
) -> None:
    signer: tx.Signer = KeyOnlySigner(funded)
    address = address_of(signer.public_key)
    sequencer = Sequencer(node, signer, address, chain_id=CHAIN_ID)
    ex = DydxExchange(
        node=node,
        indexer=indexer,
        wallet=signer,
        sequencer=sequencer,
        heights=HeightCache(node.latest_height),
        chain_id=CHAIN_ID,
    )
    assert ex.address == funded.address
    snapshot = await ex.account(0)
    assert snapshot.equity == Decimal("100000")
    account = await node.account(address)
    signed = tx.sign_tx(
        signer,
        [remove_authenticator_msg(address, 0)],
        chain_id=CHAIN_ID,
        account_number=account.account_number,
        sequence=account.sequence,
    )
    assert await ex.sequence_consumed(signed.tx_bytes) is False
