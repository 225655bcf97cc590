"""The keeper's writes (`keeper/authenticators.go` AddAuthenticator / RemoveAuthenticator), run
by the message server (`keeper/msg_server.go`) when a block delivers the tx, and the
authenticator lookup the ante decorator uses (`GetInitializedAuthenticatorForAccount`).

CheckTx never runs a message (baseapp `runMsgs` skips execution in CheckTx): a malformed
authenticator is accepted into the mempool and fails in the block, where `GetTx` shows the
failure, wrapped as baseapp does ("failed to execute message; message index: N: ...").
"""

from __future__ import annotations

from collections.abc import Sequence

from dydx_devnet import errors as E
from dydx_devnet.accountplus import errors as AE
from dydx_devnet.accountplus.authenticators import REGISTERED, Authenticator, initialize, on_added
from dydx_devnet.accountplus.msgs import (
    AUTHENTICATOR_DATA_MAX_LENGTH,
    AccountplusMsg,
    AddAuthenticatorMsg,
    RemoveAuthenticatorMsg,
)
from dydx_devnet.accountplus.store import AccountAuthenticator, AuthenticatorStore
from dydx_devnet.errors import TxError
from dydx_devnet.tx import address_error


def validate_basic(m: AccountplusMsg) -> None:
    """`MsgAddAuthenticator.ValidateBasic`; MsgRemoveAuthenticator has none."""
    if isinstance(m, AddAuthenticatorMsg):
        if address_error(m.sender) is not None:
            raise AE.ErrInvalidAccountAddress.bare()
        if len(m.data) > AUTHENTICATOR_DATA_MAX_LENGTH:
            raise AE.ErrAuthenticatorDataExceedsMaximumLength.bare()


def _go_bytes(b: bytes) -> str:
    """Go's `%v` of a []byte."""
    return "[" + " ".join(str(x) for x in b) + "]"


def _require_active(store: AuthenticatorStore) -> None:
    """`keeper/msg_server.go` AddAuthenticator / RemoveAuthenticator check the flag first, with
    sdk/4, not x/accountplus's own ErrSmartAccountNotActive."""
    if not store.smart_account_active:
        raise E.ErrUnauthorized.wrap("smart account authentication flow is not active")


def add_authenticator(store: AuthenticatorStore, m: AddAuthenticatorMsg) -> int:
    _require_active(store)
    if m.authenticator_type not in REGISTERED:
        raise AE.internal(f"authenticator type {m.authenticator_type} is not registered")
    new_id = store.next_id
    try:
        require = on_added(m.authenticator_type, m.data, str(new_id))
    except TxError as e:
        raise AE.wrap(
            e, f"`OnAuthenticatorAdded` failed on authenticator type {m.authenticator_type}"
        ) from None
    if not require:
        raise AE.internal(
            "unsafe: authenticator tree does not require signature verification all possible "
            f"paths, type = {m.authenticator_type}, config = {_go_bytes(m.data)}"
        )
    store.next_id = new_id + 1
    store.put(m.sender, AccountAuthenticator(new_id, m.authenticator_type, m.data))
    return new_id


def remove_authenticator(store: AuthenticatorStore, m: RemoveAuthenticatorMsg) -> None:
    _require_active(store)
    if store.get(m.sender, m.id) is None:
        raise AE.ErrAuthenticatorNotFound.wrap(
            f"RemoveAuthenticator: failed to get authenticator {m.id} for address {m.sender}"
        )
    store.delete(m.sender, m.id)  # no registered type prevents removal


def deliver(store: AuthenticatorStore, msgs: Sequence[tuple[int, AccountplusMsg]]) -> None:
    """Run the messages (index in the tx, message) all or nothing; raise the tx's failure."""
    work = store.copy()
    for index, m in msgs:
        try:
            if isinstance(m, AddAuthenticatorMsg):
                add_authenticator(work, m)
            else:
                remove_authenticator(work, m)
        except TxError as e:
            raise AE.wrap(e, f"failed to execute message; message index: {index}") from None
    store.by_account, store.next_id = work.by_account, work.next_id


def initialized(store: AuthenticatorStore, account: str, authenticator_id: int) -> Authenticator:
    """`GetInitializedAuthenticatorForAccount`."""
    stored = store.get(account, authenticator_id)
    if stored is None:
        raise AE.ErrAuthenticatorNotFound.wrap(
            f"authenticator {authenticator_id} not found for account {account}"
        )
    try:
        return initialize(stored.type, stored.config)
    except TxError as e:
        raise AE.wrap(
            e,
            f"authenticator {authenticator_id} with type {stored.type} failed to initialize "
            f"for account {account}",
        ) from None
