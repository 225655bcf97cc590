"""Stateful validation and memclob rules of CheckTx, with the chain's (codespace, code).

Sources: `protocol/x/clob/keeper/orders.go` (PerformStatefulOrderValidation, validateGoodTilBlock,
PerformOrderCancellationStatefulValidation), `keeper/clob_pair.go`, `keeper/equity_tier_limit.go`,
`memclob/memclob.go` (validateNewOrder, validateReplacement, CancelOrder, PlaceOrder).
"""

from __future__ import annotations

import pytest
from tests.devnet.unit.txkit import (
    BTC,
    BUY,
    CONDITIONAL,
    IOC,
    LONG_TERM,
    POST_ONLY,
    SELL,
    STOP_LOSS,
    Chain,
    cancel,
    codes,
    order,
    order_id,
)

from dydx_devnet.model import ClobPairStatus

PRICE = 2_800_000_000  # $28,000 in BTC subticks (tick 100,000)


@pytest.fixture
def chain() -> Chain:
    c = Chain.create()
    c.commit(9)  # height 10
    return c


# ---- good-til-block window: [H+1, H+41] ------------------------------------------------------
def test_good_til_block_window(chain: Chain) -> None:
    w = chain.funded(1)
    h = chain.height
    low = chain.send(w, order(order_id(w, 1), gtb=h))
    assert codes(low) == ("clob", 10)
    assert low.raw_log == (
        f"GoodTilBlock {h} is less than the current blockHeight {h + 1}: "
        "The next block height is greater than the GoodTilBlock of the message"
    )
    high = chain.send(w, order(order_id(w, 2), gtb=h + 42))
    assert codes(high) == ("clob", 11)
    assert high.raw_log == (
        f"The GoodTilBlock {h + 42} exceeds the current blockHeight {h + 1} plus "
        "ShortBlockWindow 40: The GoodTilBlock of the message is further than ShortBlockWindow "
        "blocks into the future"
    )
    assert chain.send(w, order(order_id(w, 3), gtb=h + 1)).ok
    assert chain.send(w, order(order_id(w, 4), gtb=h + 41)).ok


def test_short_term_cancel_and_batch_cancel_use_the_same_window(chain: Chain) -> None:
    from tests.devnet.unit.txkit import batch_cancel

    w = chain.funded(1)
    assert codes(chain.send(w, cancel(order_id(w, 1), gtb=chain.height))) == ("clob", 10)
    assert codes(chain.send(w, batch_cancel(w, {BTC: [1]}, chain.height + 42))) == ("clob", 11)


def test_good_til_block_time_window(chain: Chain) -> None:
    w = chain.funded(1)
    prev = chain.state.block_time_ms // 1000
    oid = order_id(w, 1, flags=LONG_TERM)
    r = chain.send(w, order(oid, subticks=PRICE, gtbt=prev))
    assert codes(r) == ("clob", 3003)
    assert r.raw_log == (
        f"GoodTilBlockTime {prev} is less than the previous blockTime {prev}: "
        "The block time is greater than the GoodTilBlockTime of the message"
    )
    r = chain.send(w, order(oid, subticks=PRICE, gtbt=prev + 95 * 86400 + 1))
    assert codes(r) == ("clob", 3004)
    chain.commit()  # two stateful attempts per block is the rate limit
    prev = chain.state.block_time_ms // 1000
    assert chain.send(w, order(oid, subticks=PRICE, gtbt=prev + 95 * 86400)).ok


# ---- market parameters -------------------------------------------------------------------------
def test_unknown_clob_pair(chain: Chain) -> None:
    w = chain.funded(1)
    r = chain.send(w, order(order_id(w, 1, clob=3), gtb=chain.gtb()))
    assert codes(r) == ("clob", 8)
    assert r.raw_log == "Clob 3 is not a valid clob: ClobPair ID does not reference a valid CLOB"


def test_subticks_must_be_a_tick_multiple(chain: Chain) -> None:
    w = chain.funded(1)
    r = chain.send(w, order(order_id(w, 1), subticks=PRICE + 50_000, gtb=chain.gtb()))
    assert codes(r) == ("clob", 12)
    assert r.raw_log == (
        f"Order subticks {PRICE + 50_000} must be a multiple of the ClobPair's SubticksPerTick "
        "100000: MsgPlaceOrder is invalid"
    )


def test_quantums_must_be_a_step_multiple(chain: Chain) -> None:
    w = chain.funded(1)
    r = chain.send(w, order(order_id(w, 1), quantums=1_500_000, gtb=chain.gtb()))
    assert codes(r) == ("clob", 12)
    assert r.raw_log == (
        "Order Quantums 1500000 must be a multiple of the ClobPair's StepBaseQuantums 1000000: "
        "MsgPlaceOrder is invalid"
    )


def test_conditional_trigger_must_be_a_tick_multiple(chain: Chain) -> None:
    w = chain.funded(1)
    oid = order_id(w, 1, flags=CONDITIONAL)
    r = chain.send(
        w,
        order(
            oid,
            side=SELL,
            subticks=PRICE,
            gtbt=chain.gtbt(),
            condition_type=STOP_LOSS,
            trigger=PRICE + 1,
        ),
    )
    assert codes(r) == ("clob", 12)


def test_final_settlement_rejects_every_order(chain: Chain) -> None:
    w = chain.funded(1)
    chain.engine.set_clob_pair_status(BTC, ClobPairStatus.FINAL_SETTLEMENT)
    assert codes(chain.send(w, order(order_id(w, 1), gtb=chain.gtb()))) == ("clob", 34)


def test_initializing_accepts_only_non_crossing_short_term_post_only(chain: Chain) -> None:
    w = chain.funded(1)
    chain.engine.set_clob_pair_status(BTC, ClobPairStatus.INITIALIZING)
    oracle = chain.oracle_subticks() // 100_000 * 100_000
    assert codes(chain.send(w, order(order_id(w, 1), subticks=oracle, gtb=chain.gtb()))) == (
        "clob",
        34,
    )
    above = oracle + 1_000_000
    r = chain.send(w, order(order_id(w, 2), subticks=above, gtb=chain.gtb(), tif=POST_ONLY))
    assert codes(r) == ("clob", 34)
    stateful = order(order_id(w, 3, flags=LONG_TERM), subticks=oracle, gtbt=chain.gtbt())
    assert codes(chain.send(w, stateful)) == ("clob", 34)
    assert chain.send(w, order(order_id(w, 4), subticks=oracle, gtb=chain.gtb(), tif=POST_ONLY)).ok


# ---- memclob -------------------------------------------------------------------------------------
def test_post_only_that_would_cross(chain: Chain) -> None:
    maker, taker = chain.funded(1), chain.funded(2)
    assert chain.send(
        maker, order(order_id(maker, 1), side=SELL, subticks=PRICE, gtb=chain.gtb())
    ).ok
    r = chain.send(
        taker, order(order_id(taker, 1), side=BUY, subticks=PRICE, gtb=chain.gtb(), tif=POST_ONLY)
    )
    assert codes(r) == ("clob", 2003)
    below = PRICE - 100_000
    ok = chain.send(
        taker, order(order_id(taker, 2), side=BUY, subticks=below, gtb=chain.gtb(), tif=POST_ONLY)
    )
    assert ok.ok


def test_reduce_only_needs_an_opposite_position(chain: Chain) -> None:
    w = chain.funded(1)
    r = chain.send(w, order(order_id(w, 1), side=SELL, gtb=chain.gtb(), tif=IOC, reduce_only=True))
    assert codes(r) == ("clob", 2001)
    assert r.raw_log == "Reduce-only orders cannot increase the position size"


def test_reduce_only_in_the_position_direction(chain: Chain) -> None:
    maker, w = chain.funded(1), chain.funded(2)
    chain.send(maker, order(order_id(maker, 1), side=SELL, subticks=PRICE, gtb=chain.gtb()))
    assert chain.send(
        w, order(order_id(w, 1), side=BUY, subticks=PRICE, gtb=chain.gtb(), tif=IOC)
    ).ok
    assert chain.state.subaccount(w.address, 0).position(0).quantums == 10_000_000  # type: ignore[union-attr]
    r = chain.send(w, order(order_id(w, 2), side=BUY, gtb=chain.gtb(), tif=IOC, reduce_only=True))
    assert codes(r) == ("clob", 2001)


def test_reduce_only_fill_is_cut_to_the_position(chain: Chain) -> None:
    maker, w = chain.funded(1), chain.funded(2)
    chain.send(maker, order(order_id(maker, 1), side=SELL, subticks=PRICE, gtb=chain.gtb()))
    chain.send(w, order(order_id(w, 1), side=BUY, subticks=PRICE, gtb=chain.gtb(), tif=IOC))
    chain.send(
        maker,
        order(order_id(maker, 2), side=BUY, quantums=50_000_000, subticks=PRICE, gtb=chain.gtb()),
    )
    r = chain.send(
        w,
        order(
            order_id(w, 2),
            side=SELL,
            quantums=50_000_000,
            subticks=PRICE,
            gtb=chain.gtb(),
            tif=IOC,
            reduce_only=True,
        ),
    )
    assert r.ok
    assert chain.state.subaccount(w.address, 0).position(0) is None  # type: ignore[union-attr]


def test_replacement_rules(chain: Chain) -> None:
    w = chain.funded(1)
    oid = order_id(w, 1)
    gtb = chain.gtb(10)
    assert chain.send(w, order(oid, subticks=PRICE, gtb=gtb)).ok
    lower = chain.send(w, order(oid, subticks=PRICE, gtb=gtb - 1))
    assert codes(lower) == ("clob", 20)
    assert lower.raw_log == (
        "New order cannot reduce the GoodTilBlock or GoodTilBlockTime of existing order: "
        "Replacing an existing order failed"
    )
    assert codes(chain.send(w, order(oid, side=SELL, subticks=9 * PRICE, gtb=gtb + 1))) == (
        "clob",
        20,
    )
    assert codes(chain.send(w, order(oid, subticks=PRICE, gtb=gtb + 1, tif=POST_ONLY))) == (
        "clob",
        20,
    )
    # identical order, different tx bytes (memo): same GTB and hash -> 20, not a duplicate
    r = chain.send(w, order(oid, subticks=PRICE, gtb=gtb), memo="again")
    assert codes(r) == ("clob", 20)
    assert chain.send(w, order(oid, subticks=PRICE - 100_000, gtb=gtb + 1)).ok
    resting = chain.state.open_orders(clob_pair_id=BTC)
    assert [o.order.subticks for o in resting] == [PRICE - 100_000]


def test_cancel_of_an_unknown_short_term_order_succeeds_and_blocks_the_order(
    chain: Chain,
) -> None:
    w = chain.funded(1)
    oid = order_id(w, 1)
    gtb = chain.gtb(10)
    assert chain.send(w, cancel(oid, gtb=gtb)).ok
    again = chain.send(w, cancel(oid, gtb=gtb), memo="again")
    assert codes(again) == ("clob", 9)
    r = chain.send(w, order(oid, subticks=PRICE, gtb=gtb))
    assert codes(r) == ("clob", 7)
    assert chain.send(w, order(oid, subticks=PRICE, gtb=gtb + 1)).ok


def test_cancel_removes_a_resting_order_only_with_a_high_enough_gtb(chain: Chain) -> None:
    w = chain.funded(1)
    oid = order_id(w, 1)
    gtb = chain.gtb(10)
    chain.send(w, order(oid, subticks=PRICE, gtb=gtb))
    assert chain.send(w, cancel(oid, gtb=gtb - 1)).ok
    assert len(chain.state.open_orders(clob_pair_id=BTC)) == 1
    assert chain.send(w, cancel(oid, gtb=gtb)).ok
    assert chain.state.open_orders(clob_pair_id=BTC) == []


def test_ioc_without_liquidity_is_accepted_and_does_not_rest(chain: Chain) -> None:
    w = chain.funded(1)
    assert chain.send(w, order(order_id(w, 1), subticks=PRICE, gtb=chain.gtb(), tif=IOC)).ok
    assert chain.state.open_orders() == []


def test_filled_order_id_cannot_be_reused_until_pruned(chain: Chain) -> None:
    maker, w = chain.funded(1), chain.funded(2)
    chain.send(
        maker,
        order(order_id(maker, 1), side=SELL, quantums=50_000_000, subticks=PRICE, gtb=chain.gtb()),
    )
    oid = order_id(w, 1)
    gtb = chain.gtb(3)
    assert chain.send(w, order(oid, subticks=PRICE, gtb=gtb, tif=IOC)).ok
    chain.commit()
    r = chain.send(w, order(oid, subticks=PRICE, gtb=gtb + 1, tif=IOC))
    assert codes(r) == ("clob", 24)


def test_partly_filled_ioc_cannot_be_placed_again(chain: Chain) -> None:
    maker, w = chain.funded(1), chain.funded(2)
    chain.send(maker, order(order_id(maker, 1), side=SELL, subticks=PRICE, gtb=chain.gtb()))
    oid = order_id(w, 1)
    gtb = chain.gtb(3)
    assert chain.send(w, order(oid, quantums=30_000_000, subticks=PRICE, gtb=gtb, tif=IOC)).ok
    chain.commit()
    r = chain.send(w, order(oid, quantums=30_000_000, subticks=PRICE, gtb=gtb + 1, tif=IOC))
    assert codes(r) == ("clob", 2004)


# ---- stateful orders and cancels ---------------------------------------------------------
def _long(chain: Chain, w: object, cid: int, **kw: object) -> object:
    return order(order_id(w, cid, flags=LONG_TERM), subticks=PRICE, gtbt=chain.gtbt(), **kw)  # type: ignore[arg-type]


def test_stateful_duplicate_pending_and_committed(chain: Chain) -> None:
    w = chain.funded(1)
    assert chain.send(w, _long(chain, w, 1)).ok
    assert codes(chain.send(w, _long(chain, w, 1))) == ("clob", 3005)
    chain.commit()
    r = chain.send(w, order(order_id(w, 1, flags=LONG_TERM), subticks=PRICE, gtbt=chain.gtbt(7200)))
    assert codes(r) == ("clob", 3005)


def test_stateful_cancel_rules(chain: Chain) -> None:
    w = chain.funded(1)
    oid = order_id(w, 1, flags=LONG_TERM)
    unknown = chain.send(w, cancel(oid, gtbt=chain.gtbt()))
    assert codes(unknown) == ("clob", 3006)
    gtbt = chain.gtbt(3600)
    assert chain.send(w, order(oid, subticks=PRICE, gtbt=gtbt)).ok
    chain.commit()
    assert codes(chain.send(w, cancel(oid, gtbt=gtbt - 1))) == ("clob", 29)
    assert codes(chain.send(w, cancel(oid, gtbt=chain.state.block_time_ms // 1000))) == (
        "clob",
        3003,
    )
    assert chain.send(w, cancel(oid, gtbt=gtbt)).ok
    assert codes(chain.send(w, cancel(oid, gtbt=gtbt + 1))) == ("clob", 32)
    assert len(chain.state.open_orders(clob_pair_id=BTC)) == 1
    chain.commit()
    assert chain.state.open_orders(clob_pair_id=BTC) == []


def test_pending_cancel_blocks_replacement(chain: Chain) -> None:
    w = chain.funded(1)
    oid = order_id(w, 1, flags=LONG_TERM)
    assert chain.send(w, order(oid, subticks=PRICE, gtbt=chain.gtbt())).ok
    chain.commit()
    assert chain.send(w, cancel(oid, gtbt=chain.gtbt(7200))).ok
    r = chain.send(w, order(oid, subticks=PRICE, gtbt=chain.gtbt(7200)))
    assert codes(r) == ("clob", 3008)


def test_equity_tier_limit_for_stateful_orders(chain: Chain) -> None:
    poor = chain.funded(1, usdc="19")
    assert codes(chain.send(poor, _long(chain, poor, 1, quantums=1_000_000))) == ("clob", 10001)
    small = chain.funded(2, usdc="50")  # tier: >= $20 -> 1 open stateful order
    assert chain.send(small, _long(chain, small, 1, quantums=1_000_000)).ok
    chain.commit()
    r = chain.send(small, _long(chain, small, 2, quantums=1_000_000))
    assert codes(r) == ("clob", 10001)


def test_stateful_collateral_check(chain: Chain) -> None:
    w = chain.funded(1, usdc="1000")
    # 2 BTC bought at $28,000 (oracle ~$28,688): equity ~$2,376 < initial margin ~$2,869 (5%)
    r = chain.send(w, _long(chain, w, 1, quantums=20_000_000_000))
    assert codes(r) == ("clob", 3007)
    assert chain.send(w, _long(chain, w, 2, quantums=100_000_000)).ok


def test_conditional_orders_skip_the_collateral_check(chain: Chain) -> None:
    w = chain.funded(1, usdc="1000")
    r = chain.send(
        w,
        order(
            order_id(w, 1, flags=CONDITIONAL),
            side=SELL,
            quantums=10_000_000_000,
            subticks=PRICE,
            gtbt=chain.gtbt(),
            condition_type=STOP_LOSS,
            trigger=PRICE,
        ),
    )
    assert r.ok
