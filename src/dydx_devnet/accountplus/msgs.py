"""The x/accountplus messages (`proto/dydxprotocol/accountplus/tx.proto`) as the devnet holds
them, and their ValidateBasic (`types/message_add_authenticator.go`)."""

from __future__ import annotations

from dataclasses import dataclass

ADD_AUTHENTICATOR_URL = "/dydxprotocol.accountplus.MsgAddAuthenticator"
REMOVE_AUTHENTICATOR_URL = "/dydxprotocol.accountplus.MsgRemoveAuthenticator"
TX_EXTENSION_URL = "/dydxprotocol.accountplus.TxExtension"
# types/message_add_authenticator.go AUTHENTICATOR_DATA_MAX_LENGTH
AUTHENTICATOR_DATA_MAX_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class AddAuthenticatorMsg:
    sender: str
    authenticator_type: str
    data: bytes

    @property
    def signer(self) -> str:  # cosmos.msg.v1.signer = "sender"
        return self.sender


@dataclass(frozen=True, slots=True)
class RemoveAuthenticatorMsg:
    sender: str
    id: int

    @property
    def signer(self) -> str:
        return self.sender


AccountplusMsg = AddAuthenticatorMsg | RemoveAuthenticatorMsg
