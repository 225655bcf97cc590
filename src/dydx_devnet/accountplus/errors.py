"""x/accountplus's registered errors (`protocol/x/accountplus/types/errors.go`, codespace
`dydxaccountplus`, the module name in `types/keys.go`), and Go's unregistered errors.

An error the chain creates with `fmt.Errorf` (or a `strconv` error) is not registered: the ABCI
result is codespace `undefined`, code 1 and the error's text (`cosmossdk.io/errors` abci.go
`ABCIInfo`). ``internal`` models one; `wrap` prefixes a detail as `errorsmod.Wrapf` does.
"""

from __future__ import annotations

from dydx_devnet.errors import Registered, TxError

CODESPACE = "dydxaccountplus"


def _ap(code: int, message: str) -> Registered:
    return Registered(CODESPACE, code, message)


ErrAuthenticatorNotFound = _ap(1, "Authenticator is not found")
ErrInvalidAccountAddress = _ap(2, "Invalid account address")
ErrAuthenticatorDataExceedsMaximumLength = _ap(3, "Authenticator data exceeds maximum length")
ErrSmartAccountNotActive = _ap(4, "Smart account is not active")
ErrInitializingAuthenticator = _ap(5, "Error initializing authenticator")
ErrTxnHasMultipleSigners = _ap(6, "The transaction has multiple signers")
ErrSignatureVerification = _ap(100, "Signature verification failed")
ErrMessageTypeVerification = _ap(101, "Message type verification failed")
ErrClobPairIdVerification = _ap(102, "Clob pair id verification failed")
ErrSubaccountVerification = _ap(103, "Subaccount verification failed")
ErrAllOfVerification = _ap(104, "AllOf verification failed")
ErrAnyOfVerification = _ap(105, "AnyOf verification failed")


def internal(text: str) -> TxError:
    """An unregistered Go error: (undefined, 1, text)."""
    return TxError(Registered("undefined", 1, text), "")


def wrap(err: TxError, detail: str) -> TxError:
    """`errorsmod.Wrapf(err, detail)`: same code, the detail prefixed to the log."""
    return TxError(err.error, f"{detail}: {err.detail}" if err.detail else detail)
