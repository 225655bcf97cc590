"""Timestamp nonces: x/accountplus's replay protection for a signer whose sequence is a Unix time
in milliseconds (`protocol/x/accountplus/keeper/timestampnonce.go`, kept in the module's
AccountState.TimestampNonceDetails).

A nonce must lie within 30 s of the block time; the account keeps at most 20 of them. Before a
nonce is tried, the stale ones (older than block time - 30 s) are ejected and the largest
ejected is remembered (`EjectStaleTimestampNonces`). A nonce is then refused when it is not above
that maximum, or is already held, or, with 20 held, is not above the smallest, which it replaces
and which becomes the maximum ejected (`AttemptTimestampNonceUpdate`). Every refusal is a plain
Go error that replay protection wraps in sdk/32 (`app/ante/replay_protection.go`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dydx_devnet import errors as E

TIMESTAMP_NONCE_CUTOFF = 1 << 40  # TimestampNonceSequenceCutoff
MAX_TIME_IN_PAST_MS = 30_000
MAX_TIME_IN_FUTURE_MS = 30_000
MAX_TIMESTAMP_NONCES = 20  # MaxTimestampNonceArrSize


@dataclass(slots=True)
class NonceState:
    nonces: list[int] = field(default_factory=list)
    max_ejected: int = 0

    def copy(self) -> NonceState:
        return NonceState(list(self.nonces), self.max_ejected)


def is_timestamp_nonce(sequence: int) -> bool:
    return sequence >= TIMESTAMP_NONCE_CUTOFF


def process_timestamp_nonce(current: NonceState | None, nonce: int, block_ts: int) -> NonceState:
    """`ProcessTimestampNonce`: the account's new state, or the chain's sdk/32 refusal. The
    argument is not modified (the keeper writes the state only on success)."""
    if not block_ts - MAX_TIME_IN_PAST_MS <= nonce <= block_ts + MAX_TIME_IN_FUTURE_MS:
        raise E.ErrWrongSequence.wrap(f"timestamp nonce {nonce} not within valid time window")
    if current is None:
        return NonceState([nonce], 0)
    st = current.copy()
    oldest = block_ts - MAX_TIME_IN_PAST_MS
    kept = []
    for n in st.nonces:
        if n >= oldest:
            kept.append(n)
        elif n > st.max_ejected:
            st.max_ejected = n
    st.nonces = kept
    if nonce <= st.max_ejected or nonce in st.nonces:
        raise E.ErrWrongSequence.wrap(f"timestamp nonce {nonce} rejected")
    if len(st.nonces) < MAX_TIMESTAMP_NONCES:
        st.nonces.append(nonce)
    else:
        smallest = min(st.nonces)  # the first index of the minimum, as isLargerThanSmallestValue
        if nonce <= smallest:
            raise E.ErrWrongSequence.wrap(f"timestamp nonce {nonce} rejected")
        st.max_ejected = smallest
        st.nonces[st.nonces.index(smallest)] = nonce
    return st
