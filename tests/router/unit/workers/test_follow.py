"""Issue 13, item 7: the status stream follows every subaccount the router has open orders on:
those stored at start-up, each new one as an order is placed on it, until it has none left."""

from __future__ import annotations

from dydx_router.workers.follow import SubaccountFollower


class Stream:
    def __init__(self) -> None:
        self.followed: list[tuple[str, int]] = []

    def follow(self, address: str, number: int) -> bool:
        if (address, number) in self.followed:
            return False
        self.followed.append((address, number))
        return True

    def unfollow(self, address: str, number: int) -> None:
        self.followed.remove((address, number))


async def test_the_stream_follows_the_subaccounts_with_open_orders() -> None:
    stream = Stream()
    stored = {0, 1, 7}
    now = [0.0]

    async def open_subaccounts() -> set[int]:
        return set(stored)

    follower = SubaccountFollower(
        stream,  # type: ignore[arg-type]
        "dydx1me",
        0,
        open_subaccounts,
        clock=lambda: now[0],
    )
    assert stream.followed == [("dydx1me", 0)]
    await follower.load()  # start-up: every subaccount with stored open orders
    assert sorted(n for _, n in stream.followed) == [0, 1, 7]
    now[0] = 50.0
    follower.follow(3)  # an order placed on a new subaccount
    assert ("dydx1me", 3) in stream.followed
    # Subaccount 7's orders are final, and so is the order on 3 (an IOC that filled): 7 is no
    # longer followed; 3 is kept a while (a client placing there again needs no resubscription).
    stored = {0, 1}
    now[0] = 70.0
    await follower.prune(idle_s=60)
    assert sorted(n for _, n in stream.followed) == [0, 1, 3]
    now[0] = 200.0
    stored = set()
    await follower.prune(idle_s=60)
    assert stream.followed == [("dydx1me", 0)]  # the default subaccount always
    assert follower.followed == [0]
