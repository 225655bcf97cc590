"""Token buckets per key and route class."""

from __future__ import annotations

from dydx_router.api.ratelimit import Rate, RateLimiter, retry_after


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
