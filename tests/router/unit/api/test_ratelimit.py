"""Token buckets per key and route class."""

from __future__ import annotations

from dydx_router.api.ratelimit import retry_after
from dydx_router.service.ratelimit import Rate, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_n_plus_first_request_waits_and_the_bucket_refills() -> None:
    clock = Clock()
    limiter = RateLimiter({"read": Rate(per_second=2, burst=5)}, clock=clock)
    assert [limiter.take("k", "read") for _ in range(5)] == [0.0] * 5
    wait = limiter.take("k", "read")
    assert wait == 0.5 and retry_after(wait) == "1"
    clock.now += 0.5
    assert limiter.take("k", "read") == 0.0
    assert limiter.take("k", "read") > 0


def test_buckets_are_per_key_and_per_class() -> None:
    clock = Clock()
    limiter = RateLimiter(
        {"read": Rate(per_second=1, burst=1), "trade": Rate(per_second=1, burst=1)}, clock=clock
    )
    assert limiter.take("a", "read") == 0.0
    assert limiter.take("a", "read") > 0
    assert limiter.take("a", "trade") == 0.0
    assert limiter.take("b", "read") == 0.0
    assert limiter.take("a", "unlimited-class") == 0.0
    assert limiter.would_wait("a", "read") and not limiter.would_wait("c", "read")


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert retry_after(0.01) == "1" and retry_after(2.2) == "3"


def test_a_full_table_never_forgets_an_exhausted_bucket() -> None:
    # The old table cleared every bucket when it filled: an attacker could fill it from many
    # addresses and get his exhausted one back with a fresh burst.
    clock = Clock()
    limiter = RateLimiter({"auth": Rate(per_second=0.001, burst=2)}, clock=clock)
    limiter.MAX_BUCKETS = 100  # type: ignore[misc]
    assert [limiter.take("attacker", "auth") for _ in range(2)] == [0.0, 0.0]
    assert limiter.take("attacker", "auth") > 0
    for i in range(99):  # the table fills with addresses that spent one token each
        limiter.take(f"other-{i}", "auth")
    clock.now += 2
    assert limiter.take("newcomer", "auth") > 0  # nothing evictable: refused, not forgotten
    assert limiter.take("attacker", "auth") > 0  # still exhausted
    # Refilled buckets are the same as fresh ones: those, and only those, are forgotten.
    clock.now += 10_000
    limiter.take("attacker", "auth")
    limiter.take("attacker", "auth")
    assert limiter.take("newcomer", "auth") == 0.0
    assert limiter.take("attacker", "auth") > 0


def test_a_table_full_of_guessing_addresses_never_refuses_a_keys_first_request() -> None:
    # The old table held every class's buckets together: once per-address auth-failure buckets
    # (anyone can make them) filled it, drained, a legitimate key's first request got a 429.
    clock = Clock()
    limiter = RateLimiter(
        {"auth": Rate(per_second=0.001, burst=1), "read": Rate(per_second=1, burst=5)},
        clock=clock,
    )
    limiter.MAX_BUCKETS = 10  # type: ignore[misc]
    for i in range(50):  # more guessing addresses than the table holds, each drained
        limiter.take(f"10.0.0.{i}", "auth")
    assert limiter.take("10.0.1.1", "auth") > 0  # their own table is full: refused
    assert limiter.take("key-1", "read") == 0.0
    for i in range(9):  # and every key of the read table still gets its burst
        assert limiter.take(f"key-{i + 2}", "read") == 0.0
    assert limiter.usage("key-1")["read"][1] == 4
