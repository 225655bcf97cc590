"""The smart-account branch of CheckTx's signature step.

`protocol/app/ante.go` puts a CircuitBreakerDecorator where signatures are verified
(`x/accountplus/ante/circuit_breaker.go`): a tx whose non-critical extension options hold a
`TxExtension` with at least one selected authenticator (`lib/lib.go`
HasSelectedAuthenticatorTxExtensionSpecified) goes through the AuthenticatorDecorator
(`ante/ante.go`) instead of SetPubKey + SigVerification. Replay protection (sequence or timestamp
nonce of the message signer, the owner) has already run; the sequence still increments after.

The AuthenticatorDecorator, in order:
0. smart accounts must be active (Params.is_smart_account_active): else dydxaccountplus/4 with
   no detail. The circuit breaker routes on the extension alone, not on the flag (unlike
   Osmosis, which falls back to the key flow), so such a tx is refused, not signature-checked;
1. the fee payer, if set, must be the first signer (sdk/4);
2. exactly one selected authenticator per message (sdk/18);
3. per message: the signer's authenticator with that id, initialized (dydxaccountplus/1 when
   absent; an uninitializable config keeps its own code); the authentication request signs over
   SIGN_MODE_DIRECT bytes with the *signer's* account number and the chain id
   (`lib/authentication_request.go`), and the signature is the signer's slot in the tx, made by
   whatever key the authenticator names; Authenticate's failure is wrapped with the message
   index, authenticator id and type, keeping its code (100..105).
The pubkey in SignerInfo is not checked against the signer and is never stored on the account.
"""

from __future__ import annotations

from dydx_devnet import errors as E
from dydx_devnet.accountplus import errors as AE
from dydx_devnet.accountplus.authenticators import Request, msg_type_url
from dydx_devnet.accountplus.keeper import initialized
from dydx_devnet.accountplus.store import AuthenticatorStore
from dydx_devnet.errors import TxError
from dydx_devnet.tx import DecodedTx, sign_doc_bytes


def uses_authenticators(tx: DecodedTx) -> bool:
    return bool(tx.selected_authenticators)


def authenticate(
    tx: DecodedTx,
    store: AuthenticatorStore,
    *,
    chain_id: str,
    account_numbers: dict[str, int],
    sequences: dict[str, int],
) -> None:
    """Raise the chain's rejection, or return when every message is authenticated."""
    if not store.smart_account_active:
        raise AE.ErrSmartAccountNotActive.bare()
    signers = tx.signers
    if tx.fee_payer and tx.fee_payer != signers[0]:
        raise E.ErrUnauthorized.wrap("fee payer must be the first signer")
    selected = tx.selected_authenticators
    if len(selected) != len(tx.msgs):
        raise E.ErrInvalidRequest.wrap(
            "Mismatch between the number of selected authenticators and messages, "
            f"msg count {len(tx.msgs)}, got {len(selected)} selected authenticators"
        )
    signatures = dict(zip(signers, tx.signatures, strict=True))
    for index, (m, auth_id) in enumerate(zip(tx.msgs, selected, strict=True)):
        account = m.signer
        url = msg_type_url(m)
        try:
            auth = initialized(store, account, auth_id)
        except TxError as e:
            raise AE.wrap(
                e,
                "failed to get initialized authenticator "
                f"(account = {account}, authenticator id = {auth_id}, msg index = {index}, "
                f"msg type url = {url})",
            ) from None
        account_number = account_numbers.get(account, 0)
        req = Request(
            account=account,
            msg=m,
            msg_index=index,
            signature=signatures[account],
            sign_doc=sign_doc_bytes(tx.body_bytes, tx.auth_info_bytes, chain_id, account_number),
            account_number=account_number,
            sequence=sequences.get(account, 0),
            chain_id=chain_id,
            authenticator_id=str(auth_id),
        )
        try:
            auth.authenticate(req)
        except TxError as e:
            raise AE.wrap(
                e,
                f"authentication failed for message {index}, authenticator id {auth_id}, "
                f"type {auth.type}",
            ) from None
