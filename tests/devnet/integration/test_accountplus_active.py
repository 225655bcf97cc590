"""x/accountplus's smart-account flag switched through the admin API, over real sockets: the
Params query reports it, the router's NodeClient gets dydxaccountplus/4 for a permissioned order
(mapped to AuthenticatorRefused) and sdk/4 from the block for a revoke
(`protocol/x/accountplus/ante/ante.go`, `keeper/msg_server.go`, v9.6.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from pydantic import SecretStr
from tests.devnet.unit.txkit import order, order_id, wallet
from v4_proto.dydxprotocol.accountplus import query_pb2 as ap_query
from v4_proto.dydxprotocol.accountplus import query_pb2_grpc as ap_grpc

from dydx_devnet.app import Devnet, DevnetConfig
from dydx_router import trading_keys
from dydx_router.chain.errors import AuthenticatorRefused, ChainRejected
from dydx_router.chain.node import NodeClient
from dydx_router.chain.tx import sign_tx
from dydx_router.chain.wallet import Wallet
from dydx_router.config import NodeEndpoint

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
CHAIN_ID = "localdydxprotocol"


@pytest.fixture
async def devnet() -> AsyncIterator[Devnet]:
    d = Devnet(
        DevnetConfig(
            grpc_port=0, indexer_port=0, ws_port=0, admin_port=0, block_time=0.1,
            market_makers=False, oracle_walk=False,
        )
    )  # fmt: skip
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


async def _params_active(target: str) -> bool:
    async with grpc.aio.insecure_channel(target) as ch:
        r = await ap_grpc.QueryStub(ch).Params(ap_query.QueryParamsRequest())
        return bool(r.params.is_smart_account_active)


async def test_switch_smart_accounts_off_and_on(devnet: Devnet, tmp_path: Path) -> None:
    owner = wallet(9_301)
    async with (
        httpx.AsyncClient(base_url=devnet.admin_url, timeout=10) as admin,
        NodeClient([NodeEndpoint.parse(devnet.grpc_target)]) as node,
    ):
        funded = await admin.post("/devnet/fund", json={"address": owner.address, "amount": "1000"})
        assert funded.status_code == 200, funded.text
        key_file = tmp_path / "key"
        g = await trading_keys.grant(
            node, owner, chain_id=CHAIN_ID, markets=["BTC-USD"], subaccounts=[0],
            key_file=key_file,
        )  # fmt: skip
        trader = Wallet.from_mnemonic(SecretStr(key_file.read_text().strip()))
        acc = devnet.state.account(owner.address)
        assert acc is not None

        def place(client_id: int) -> Any:
            msg = order(
                order_id(owner, client_id), gtb=devnet.state.height + 5, subticks=2_000_000_000
            )
            return sign_tx(
                trader, [msg], chain_id=CHAIN_ID, account_number=acc.account_number, sequence=0,
                authenticators=(g.authenticator_id,),
            )  # fmt: skip

        assert (await admin.get("/devnet/smart-account")).json() == {"active": True}
        assert await _params_active(devnet.grpc_target)

        off = await admin.post("/devnet/smart-account", json={"active": False})
        assert off.status_code == 200 and off.json() == {"active": False}
        assert (await admin.get("/devnet/smart-account")).json() == {"active": False}
        assert not await _params_active(devnet.grpc_target)

        with pytest.raises(AuthenticatorRefused) as refused:
            await node.broadcast(place(1))
        assert refused.value.key == ("dydxaccountplus", 4)
        assert "smart accounts are disabled on this chain" in refused.value.log

        with pytest.raises(ChainRejected) as revoke:  # accepted by CheckTx, refused by the block
            await trading_keys.revoke(node, owner, g.authenticator_id, chain_id=CHAIN_ID)
        assert revoke.value.key == ("sdk", 4)
        assert revoke.value.log == (
            "failed to execute message; message index: 0: smart account authentication flow is "
            "not active: unauthorized"
        )

        bad = await admin.post("/devnet/smart-account", json={"active": "no"})
        assert bad.status_code == 422
        on = await admin.post("/devnet/smart-account", json={"active": True})
        assert on.json() == {"active": True}
        assert await _params_active(devnet.grpc_target)
        await node.broadcast(place(2))  # the authenticator survived the refused revoke
