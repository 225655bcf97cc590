"""Retries of the upstream clients' calls: exponential backoff with jitter inside a total time
budget, and which errors allow the *identical* request again (:func:`retry_identical`): transport
failures and a full mempool; a rejection whose remedy changes the tx is left to the sequencer or
the caller, and nothing is ever retried with new identifiers. Breakers and failover:
``chain/resilience.py``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from dydx_router.chain.errors import ChainError, ChainRejected, ChainUnavailable, IndexerUnavailable

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter inside a total time budget (per outbound call)."""

    budget_s: float = 6.0
    max_attempts: int = 4
    initial_backoff_s: float = 0.05
    max_backoff_s: float = 1.0

    def retrying(
        self, should_retry: Callable[[BaseException], bool], remaining_s: float
    ) -> AsyncRetrying:
        """Retries *after* a first failed attempt: at most ``max_attempts - 1`` more, none
        starting later than ``remaining_s`` from now."""
        return AsyncRetrying(
            stop=stop_after_attempt(max(1, self.max_attempts - 1))
            | stop_before_delay(max(0.0, remaining_s)),
            # "Full jitter": uniform in [0, min(max, initial·2^n)], so that many callers failing at
            # the same moment do not come back in lockstep.
            wait=wait_random_exponential(multiplier=self.initial_backoff_s, max=self.max_backoff_s),
            retry=retry_if_exception(should_retry),
            reraise=True,
        )


async def call_with_retries(
    policy: RetryPolicy, attempt: Callable[[float], Awaitable[T]], deadline: float
) -> T:
    """One logical call: ``attempt(deadline)`` once (the hot path: no retry machinery), then,
    after an error :func:`retry_identical` allows, more attempts with backoff and jitter, each
    with the deadline cut to what is left of ``policy.budget_s``."""
    started = time.monotonic()
    try:
        return await attempt(deadline)
    except ChainError as e:
        if not retry_identical(e):
            raise
        first = e
    budget = policy.budget_s
    async for retry in policy.retrying(retry_identical, budget - (time.monotonic() - started)):
        with retry:
            left = budget - (time.monotonic() - started)
            try:
                return await attempt(max(0.05, min(deadline, left)))
            except ChainError as e:
                raise keep_cause(first, e) from e.__cause__
    raise AssertionError("tenacity ended without an outcome")  # pragma: no cover


# (codespace, code) of CheckTx answers where resending the *identical* bytes later is the remedy.
# sdk/20 ErrMempoolIsFull (cosmos-sdk types/errors/errors.go; cosmos-sdk client/broadcast.go
# CheckCometError). Rate limits (clob/5001) are reported instead: holding a request for blocks helps
# nobody.
_RESEND_IDENTICAL = frozenset({("sdk", 20)})


def retry_identical(err: BaseException) -> bool:
    """Whether the identical request may be sent again after ``err``.

    Transport failures are retried (a read is harmless; a broadcast is repeated with the same
    bytes, which the chain dedupes) unless every endpoint's breaker is open: then the caller is
    told at once. Rejections are retried only when the remedy leaves the tx unchanged.
    """
    if isinstance(err, ChainUnavailable | IndexerUnavailable):
        return not err.details.get("circuit_open", False)
    if isinstance(err, ChainRejected):
        return err.key in _RESEND_IDENTICAL
    return False


def keep_cause(first: ChainError, later: ChainError) -> ChainError:
    """The error to report after retries: when the breakers opened while retrying, the first
    failure says more about the cause; it takes over the fail-fast marks so nobody retries it."""
    if later.details.get("circuit_open") and not first.details.get("circuit_open"):
        first.details.update(circuit_open=True, retry_after_s=later.details["retry_after_s"])
        return first
    return later
