"""A fill's subaccount messages are rendered for the subaccounts someone follows; the indexer's
data (fills, orders, positions) is kept for every subaccount either way."""

from __future__ import annotations

from tests.devnet.unit.indexer_events import ALICE, BOB, block, chain, fill, funded, order, placed

from dydx_devnet.indexer.projection import Projection
from dydx_devnet.model import PerpetualPosition, Side, TimeInForce


def test_only_followed_subaccounts_get_a_fills_messages() -> None:
    projection = Projection(chain())
    followed = f"{BOB.owner}/{BOB.number}"
    projection.wanted = lambda channel, channel_id: channel_id == followed
    maker = order(ALICE, 1, Side.SELL, 5_000_000, 6_000_000_000, gtb=20)
    taker = order(BOB, 2, Side.BUY, 3_000_000, 6_000_000_000, gtb=20, tif=TimeInForce.IOC)
    projection.apply(block(1, *funded(ALICE, 1_000_000_000, 1), *funded(BOB, 1_000_000_000, 1)))
    projection.apply(placed(maker, 1))
    out = projection.apply(
        block(
            2,
            fill(maker, taker, 3_000_000, 2, maker_filled=3_000_000, taker_filled=3_000_000),
            *funded(ALICE, 1_000_000_000, 2, PerpetualPosition(0, -3_000_000))[1:],
            *funded(BOB, 1_000_000_000, 2, PerpetualPosition(0, 3_000_000))[1:],
        )
    )
    with_fills = [m for m in out if m.channel == "v4_subaccounts" and "fills" in m.contents]
    assert [m.id for m in with_fills] == [followed]
    assert with_fills[0].contents["fills"][0]["liquidity"] == "TAKER"
    # Alice's fill is kept for the REST API all the same.
    assert len(projection.subaccounts[ALICE].fills) == 1
    assert len(projection.subaccounts[BOB].fills) == 1
