"""`dydxprotocol.accountplus.Query` (`keeper/query.go`): GetAuthenticators, GetAuthenticator
and Params, from the committed state. A malformed address or a missing authenticator is gRPC
INTERNAL with the keeper's error text, as the chain answers (it wraps every keeper error in
`status.Error(codes.Internal, ...)`)."""

from __future__ import annotations

from typing import Any

import grpc
from v4_proto.dydxprotocol.accountplus import models_pb2, params_pb2
from v4_proto.dydxprotocol.accountplus import query_pb2 as ap_query
from v4_proto.dydxprotocol.accountplus import query_pb2_grpc as ap_grpc

from dydx_devnet.accountplus.store import AccountAuthenticator
from dydx_devnet.node_base import Base
from dydx_devnet.tx import address_error


def _proto(a: AccountAuthenticator) -> models_pb2.AccountAuthenticator:
    return models_pb2.AccountAuthenticator(id=a.id, type=a.type, config=a.config)


class AccountplusQuery(Base, ap_grpc.QueryServicer):  # type: ignore[misc]
    async def _check_address(self, address: str, context: Any) -> None:
        err = address_error(address)
        if err is not None:
            await context.abort(grpc.StatusCode.INTERNAL, err)

    async def GetAuthenticators(
        self, request: ap_query.GetAuthenticatorsRequest, context: Any
    ) -> ap_query.GetAuthenticatorsResponse:
        await self.gate(context)
        await self._check_address(request.account, context)
        found = self.state.authenticators.of(request.account)
        return ap_query.GetAuthenticatorsResponse(account_authenticators=[_proto(a) for a in found])

    async def GetAuthenticator(
        self, request: ap_query.GetAuthenticatorRequest, context: Any
    ) -> ap_query.GetAuthenticatorResponse:
        await self.gate(context)
        await self._check_address(request.account, context)
        a = self.state.authenticators.get(request.account, request.authenticator_id)
        if a is None:
            await context.abort(
                grpc.StatusCode.INTERNAL,
                f"authenticator {request.authenticator_id} not found for account "
                f"{request.account}: Authenticator is not found",
            )
        return ap_query.GetAuthenticatorResponse(account_authenticator=_proto(a))

    async def Params(
        self, request: ap_query.QueryParamsRequest, context: Any
    ) -> ap_query.QueryParamsResponse:
        await self.gate(context)
        active = self.state.authenticators.smart_account_active  # keeper/params.go GetParams
        return ap_query.QueryParamsResponse(
            params=params_pb2.Params(is_smart_account_active=active)
        )
