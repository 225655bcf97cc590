"""x/accountplus "smart accounts" as the chain implements it (`protocol/x/accountplus`, v9.6.1).

An account owner registers authenticators (`MsgAddAuthenticator`), each a tree of
SignatureVerification, MessageFilter, SubaccountFilter, ClobPairIdFilter, AllOf and AnyOf
(`authenticators.py`). A tx whose body carries a `TxExtension{selected_authenticators}` among its
non-critical extension options is authenticated by those authenticators instead of by the
signer's own key (`ante.py`, the chain's `ante/circuit_breaker.go` and `ante/ante.go`). The
store and the message server are `keeper.py`; the gRPC queries `query.py`.
"""
