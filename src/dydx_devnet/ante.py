"""The ante chain of CheckTx, as one validator runs it against its own check state.

CheckTx of a clob tx (`protocol/app/ante.go`, ``clobAnteHandle``):

1. decode (sdk/2); every message's ValidateBasic (clob/subaccounts codes) — baseapp runs these
   before the ante handler;
2. tx basics: signatures present (sdk/15) and one per signer (sdk/4); timeout height (sdk/30);
   memo length (sdk/12);
3. replay protection (`app/ante/replay_protection.go`): unless every message is short-term, the
   signer's sequence must equal the account's (sdk/32 "account sequence mismatch, expected X,
   got Y"), or be a timestamp nonce (>= 2^40, `x/accountplus`);
4. signature (`app/ante/sigverify.go`): the pubkey from SignerInfo must hash to the signer
   (sdk/8) and is stored on the account; SIGN_MODE_DIRECT over SignDoc with the account number
   and chain id (sdk/4); or, for a tx selecting authenticators, the signer's x/accountplus
   authenticators (`dydx_devnet.accountplus.ante`);
5. a short-term message must be alone in its tx (sdk/18, `x/clob/ante/clob.go`
   IsShortTermClobMsgTx);
6. a tx with several signatures may not use a timestamp nonce in any (sdk/2,
   `x/accountplus/ante/timestampnonce.go` IsTimestampNonceTx); the sequence increments for
   stateful txs that are not timestamp-nonce txs;
7. per-account block rate limits (clob/5001; counted even when a later check fails, as the chain's
   in-memory limiter does);
8. stateful validation and the memclob (`dydx_devnet.checktx`).

Steps 3-6 write to a "check state" that is kept only when the whole tx succeeds.

FinalizeBlock runs the ante handler again for every tx of the block (`protocol/app/ante.go`
has no CheckTx-only branch for these steps); ``ante_in_block`` repeats the ones whose answer a
block can change: replay protection, the authenticators and the sequence increment.
"""

from __future__ import annotations

from dydx_devnet import errors as E
from dydx_devnet.accountplus.ante import authenticate, uses_authenticators
from dydx_devnet.accountplus.msgs import AddAuthenticatorMsg, RemoveAuthenticatorMsg
from dydx_devnet.accountplus.nonces import NonceState, is_timestamp_nonce, process_timestamp_nonce
from dydx_devnet.genesis import RateLimit
from dydx_devnet.model import OrderFlags
from dydx_devnet.state import AccountRecord, ChainState
from dydx_devnet.tx import (
    SIGN_MODE_DIRECT,
    CancelOrderMsg,
    DecodedTx,
    Msg,
    PlaceOrderMsg,
    PubKeyCache,
    address_of,
    sign_doc_bytes,
    verify_signature,
)
from dydx_devnet.validate import is_short_term_msg, validate_basic

MAX_MEMO_CHARACTERS = 256  # auth params at genesis
TX_SIG_LIMIT = 7
BATCH_CANCEL_RATE_LIMIT_WEIGHT = 2  # x/clob/rate_limit/order_rate_limiter.go


class _CheckState:
    """Writes of one CheckTx, applied only if the tx succeeds (the ante's cache store)."""

    __slots__ = ("nonces", "pub_keys", "sequences")

    def __init__(self) -> None:
        self.sequences: dict[str, int] = {}
        self.pub_keys: dict[str, bytes] = {}
        self.nonces: dict[str, NonceState] = {}


class Ante:
    """Steps 1-7 above; the clob steps are the subclass's (`dydx_devnet.checktx.CheckTx`)."""

    state: ChainState
    pub_keys: PubKeyCache
    # check-state sequences (stateful txs accepted since the last block), timestamp nonces
    check_sequences: dict[str, int]
    nonces: dict[str, NonceState]
    # the in-memory rate limiter: (context, owner) -> height -> count
    rate: dict[tuple[str, str], dict[int, int]]
    short_term_limits: tuple[RateLimit, ...]
    stateful_limits: tuple[RateLimit, ...]
    counting: bool  # False while replaying a validator's mempool (no rate limiting)

    def _process_short_term(self, tx: DecodedTx, m: Msg) -> None:
        raise NotImplementedError

    def _process_stateful(self, tx: DecodedTx) -> None:
        raise NotImplementedError

    def _check(self, tx: DecodedTx) -> None:
        if not tx.msgs:
            raise E.ErrInvalidRequest.wrap("must contain at least one message")
        for m in tx.msgs:
            validate_basic(m)
        for m in tx.msgs:
            if isinstance(m, PlaceOrderMsg) and m.order.order_id.order_flags not in (
                OrderFlags.SHORT_TERM,
                OrderFlags.CONDITIONAL,
                OrderFlags.LONG_TERM,
            ):
                raise E.ErrInvalidRequest.wrap("TWAP orders are not supported by the devnet")
        signers = tx.signers
        if not tx.signatures:
            raise E.ErrNoSignatures.bare()
        if len(tx.signatures) != len(signers):
            raise E.ErrUnauthorized.wrap(
                f"wrong number of signers; expected {len(signers)}, got {len(tx.signatures)}"
            )
        if len(tx.signer_infos) != len(signers):
            raise E.ErrUnauthorized.wrap(
                f"invalid number of signer;  expected: {len(signers)}, got {len(tx.signer_infos)}"
            )
        height = self.state.height
        if tx.timeout_height and height > tx.timeout_height:
            raise E.ErrTxTimeoutHeight.wrap(
                f"block height: {height}, timeout height: {tx.timeout_height}"
            )
        if len(tx.memo) > MAX_MEMO_CHARACTERS:
            raise E.ErrMemoTooLarge.wrap(
                f"maximum number of characters is {MAX_MEMO_CHARACTERS} but received "
                f"{len(tx.memo)} characters"
            )
        if len(tx.signatures) > TX_SIG_LIMIT:
            raise E.ErrTooManySignatures.wrap(
                f"signatures: {len(tx.signatures)}, limit: {TX_SIG_LIMIT}"
            )
        cs = _CheckState()
        all_short_term = all(is_short_term_msg(m) for m in tx.msgs)
        timestamp_nonce = False
        if not all_short_term:
            for signer, info in zip(signers, tx.signer_infos, strict=True):
                acc = self._signer_account(signer)
                if is_timestamp_nonce(info.sequence):
                    timestamp_nonce = True
                    cs.nonces[acc.address] = process_timestamp_nonce(
                        self.nonces.get(acc.address), info.sequence, self.state.block_time_ms
                    )
                else:
                    expected = self.check_sequences.get(acc.address, acc.sequence)
                    if info.sequence != expected:
                        raise E.ErrWrongSequence.wrap(
                            f"account sequence mismatch, expected {expected}, got {info.sequence}"
                        )
        if uses_authenticators(tx):
            # x/accountplus/ante/circuit_breaker.go: the authenticators replace the signer's key
            known = [a for a in map(self.state.accounts.get, signers) if a is not None]
            authenticate(
                tx,
                self.state.authenticators,
                chain_id=self.state.chain_id,
                # an unknown account has no authenticator: refused as not found (dydxaccountplus/1)
                account_numbers={a.address: a.account_number for a in known},
                sequences={
                    a.address: self.check_sequences.get(a.address, a.sequence) for a in known
                },
            )
        else:
            self._verify_signatures(tx, signers, cs)
        if len(tx.msgs) > 1 and any(is_short_term_msg(m) for m in tx.msgs):
            raise E.ErrInvalidRequest.wrap(
                "a transaction containing short term MsgCancelOrder or MsgPlaceOrder may not "
                "contain more than one message"
            )
        _refuse_multi_signature_timestamp_nonce(tx)
        if not all_short_term and not timestamp_nonce:
            for signer in signers:
                acc = self.state.accounts[signer]
                cs.sequences[signer] = self.check_sequences.get(signer, acc.sequence) + 1
        if self.counting:
            for m in tx.msgs:
                self._rate_limit(m)
        if all_short_term:
            self._process_short_term(tx, tx.msgs[0])
        else:
            self._process_stateful(tx)
        # success: write the check state
        self.check_sequences.update(cs.sequences)
        for address, pk in cs.pub_keys.items():
            self.state.accounts[address].pub_key = pk
        self.nonces.update(cs.nonces)

    def _signer_account(self, signer: str) -> AccountRecord:
        acc = self.state.accounts.get(signer)
        if acc is None:
            raise E.ErrUnknownAddress.wrap(f"account {signer} does not exist")
        return acc

    def _verify_signatures(self, tx: DecodedTx, signers: list[str], cs: _CheckState) -> None:
        # SetPubKeyDecorator: a given pubkey must belong to its signer; it is stored on first use.
        for i, (signer, info) in enumerate(zip(signers, tx.signer_infos, strict=True)):
            acc = self._signer_account(signer)
            if info.pub_key is not None:
                if address_of(info.pub_key) != signer:
                    raise E.ErrInvalidPubKey.wrap(
                        f"pubKey does not match signer address {signer} with signer index: {i}"
                    )
                if acc.pub_key is None:
                    cs.pub_keys[signer] = info.pub_key
            elif info.pub_key_type:
                raise E.ErrInvalidPubKey.wrap(f"unsupported public key type {info.pub_key_type}")
        chain_id = self.state.chain_id
        for signer, info, sig in zip(signers, tx.signer_infos, tx.signatures, strict=True):
            acc = self.state.accounts[signer]
            pk = acc.pub_key or cs.pub_keys.get(signer)
            if pk is None:
                raise E.ErrInvalidPubKey.wrap("pubkey on account is not set")
            key = self.pub_keys.get(pk)
            doc = sign_doc_bytes(tx.body_bytes, tx.auth_info_bytes, chain_id, acc.account_number)
            if key is None or info.mode != SIGN_MODE_DIRECT or not verify_signature(key, sig, doc):
                raise E.ErrUnauthorized.wrap(
                    "signature verification failed; please verify account number "
                    f"({acc.account_number}) and chain-id ({chain_id}): "
                    "(unable to verify single signer signature)"
                )

    # ---- rate limits --------------------------------------------------------------------------
    def _rate_limit(self, m: Msg) -> None:
        if isinstance(m, AddAuthenticatorMsg | RemoveAuthenticatorMsg):
            return
        if isinstance(m, PlaceOrderMsg):
            owner = m.signer
            if m.order.order_id.is_short_term:
                self._count("MaxShortTermOrdersAndCancelsPerNBlocks", owner, 1)
            else:
                self._count("MaxStatefulOrdersPerNBlocks", owner, 1)
        elif isinstance(m, CancelOrderMsg):
            if m.order_id.is_short_term:
                self._count("MaxShortTermOrdersAndCancelsPerNBlocks", m.signer, 1)
        else:
            self._count(
                "MaxShortTermOrdersAndCancelsPerNBlocks", m.signer, BATCH_CANCEL_RATE_LIMIT_WEIGHT
            )

    def _count(self, context: str, owner: str, weight: int) -> None:
        """`multi_block_rate_limiter.go`/`single_block_rate_limiter.go`: the count is
        incremented before the check, and stays incremented when the check fails."""
        limits: tuple[RateLimit, ...] = (
            self.short_term_limits if context.startswith("MaxShortTerm") else self.stateful_limits
        )
        if not limits:
            return
        h = self.state.height
        per_block = self.rate.setdefault((context, owner), {})
        per_block[h] = per_block.get(h, 0) + weight
        for rl in sorted(limits, key=lambda r: r.num_blocks):
            total = sum(c for bh, c in per_block.items() if bh > h - rl.num_blocks)
            if total > rl.limit:
                if len(limits) == 1 and rl.num_blocks == 1:
                    detail = (
                        f"Rate of {total} exceeds configured block rate limit of "
                        f"{{NumBlocks:{rl.num_blocks} Limit:{rl.limit}}} for {context} and key "
                        f"{owner}"
                    )
                else:
                    detail = (
                        f"Rate of {total} exceeds configured block rate limit of "
                        f"{{NumBlocks:{rl.num_blocks} Limit:{rl.limit}}} for {context} and {owner}"
                    )
                raise E.ErrBlockRateLimitExceeded.wrap(detail)


def _refuse_multi_signature_timestamp_nonce(tx: DecodedTx) -> None:
    """`x/accountplus/ante/timestampnonce.go` IsTimestampNonceTx, which the ante chain calls
    after the signatures are verified (`app/ante.go`): a tx with more than one signature may
    not carry a timestamp nonce in any of them."""
    infos = tx.signer_infos
    if len(infos) > 1 and any(is_timestamp_nonce(i.sequence) for i in infos):
        raise E.ErrTxDecode.wrap("multi signature contains timestampnonce")


def ante_in_block(state: ChainState, tx: DecodedTx) -> None:
    """The ante steps FinalizeBlock runs again for a stateful tx, against the block's state as
    it is at that tx: replay protection (the sequence, or the timestamp nonce within 30 s of the
    block's time), the selected authenticators (an authenticator removed earlier in the block
    is not found: dydxaccountplus/1) and the sequence increment. The other steps cannot answer
    differently (ValidateBasic, memo, a signer's key, fixed once set), run only in CheckTx (the
    rate limiter, `x/clob/keeper/rate_limit.go` ShouldRateLimit; `x/clob/ante/clob.go`
    ClobDecorator returns early in DeliverTx), or are not repeated (the timeout height).

    All or nothing: cosmos-sdk v0.50 `baseapp.go` runTx writes the ante handler's cache store
    only when it succeeds, so a tx refused here stays in the block with the error and changes
    nothing: no fee, no sequence, no timestamp nonce, and its messages do not run.
    """
    accounts: list[AccountRecord] = []
    for signer in tx.signers:
        acc = state.accounts.get(signer)
        if acc is None:
            raise E.ErrUnknownAddress.wrap(f"account {signer} does not exist")
        accounts.append(acc)
    nonces: dict[str, NonceState] = {}
    for acc, info in zip(accounts, tx.signer_infos, strict=True):
        if is_timestamp_nonce(info.sequence):
            nonces[acc.address] = process_timestamp_nonce(
                state.timestamp_nonces.get(acc.address), info.sequence, state.block_time_ms
            )
        elif info.sequence != acc.sequence:
            raise E.ErrWrongSequence.wrap(
                f"account sequence mismatch, expected {acc.sequence}, got {info.sequence}"
            )
    if uses_authenticators(tx):
        authenticate(
            tx,
            state.authenticators,
            chain_id=state.chain_id,
            account_numbers={a.address: a.account_number for a in accounts},
            sequences={a.address: a.sequence for a in accounts},
        )
    state.timestamp_nonces.update(nonces)
    if not nonces:  # CheckTx refused several signatures with a timestamp nonce
        for acc in accounts:
            acc.sequence += 1
