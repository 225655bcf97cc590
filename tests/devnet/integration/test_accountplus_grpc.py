"""x/accountplus on the devnet over real gRPC sockets: grant and revoke through the router's
``trading_keys`` (the same calls ``dydx-router keys`` makes), the Query service's answers, and a
MsgAddAuthenticator that CheckTx accepts but the block refuses (GetTx shows its code)."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from tests.devnet.unit.txkit import wallet
from tests.fixtures.devnet import DevnetProcess
from v4_proto.dydxprotocol.accountplus import query_pb2 as ap_query
from v4_proto.dydxprotocol.accountplus import query_pb2_grpc as ap_grpc

from dydx_router import trading_keys
from dydx_router.chain import authenticators as auth
from dydx_router.chain.errors import ChainRejected
from dydx_router.chain.node import NodeClient
from dydx_router.config import NodeEndpoint

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
CHAIN_ID = "localdydxprotocol"


async def test_grant_query_and_revoke_over_grpc(devnet: DevnetProcess, tmp_path: Path) -> None:
    owner = wallet(9_101)
    await devnet.fund(owner.address, "1000")
    async with NodeClient([NodeEndpoint.parse(devnet.grpc)]) as node:
        g = await trading_keys.grant(
            node, owner, chain_id=CHAIN_ID, markets=["BTC-USD", "ETH-USD"], subaccounts=[0],
            key_file=tmp_path / "key",
        )  # fmt: skip
        async with grpc.aio.insecure_channel(devnet.grpc) as ch:
            stub = ap_grpc.QueryStub(ch)
            one = await stub.GetAuthenticator(
                ap_query.GetAuthenticatorRequest(
                    account=owner.address, authenticator_id=g.authenticator_id
                )
            )
            assert one.account_authenticator.type == "AllOf"
            assert "ClobPairIdFilter(0,1)" in auth.describe(
                "AllOf", one.account_authenticator.config
            )
            params = await stub.Params(ap_query.QueryParamsRequest())
            assert params.params.is_smart_account_active
            await trading_keys.revoke(node, owner, g.authenticator_id, chain_id=CHAIN_ID)
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await stub.GetAuthenticator(
                    ap_query.GetAuthenticatorRequest(
                        account=owner.address, authenticator_id=g.authenticator_id
                    )
                )
            assert e.value.code() is grpc.StatusCode.INTERNAL
            assert "Authenticator is not found" in (e.value.details() or "")
            with pytest.raises(grpc.aio.AioRpcError) as bad:
                await stub.GetAuthenticators(ap_query.GetAuthenticatorsRequest(account="nope"))
            assert bad.value.code() is grpc.StatusCode.INTERNAL
        assert await trading_keys.authenticators(node, owner.address) == []


async def test_an_unsafe_authenticator_is_refused_in_the_block(devnet: DevnetProcess) -> None:
    owner = wallet(9_102)
    await devnet.fund(owner.address, "1000")
    async with NodeClient([NodeEndpoint.parse(devnet.grpc)]) as node:
        msg = auth.add_authenticator_msg(owner.address, auth.subaccount_filter([0]))
        with pytest.raises(ChainRejected) as e:
            await trading_keys._send_and_commit(node, owner, msg, chain_id=CHAIN_ID, timeout_s=30)
        assert e.value.key == ("undefined", 1)
        assert "unsafe: authenticator tree does not require signature verification" in e.value.log
        assert await trading_keys.authenticators(node, owner.address) == []
