"""Matching, fills, fees, positions, blocks and events of the devnet engine (in process).

Fees: genesis fee tier 1, taker 500 ppm, maker -110 ppm, both rounded toward +inf
(`protocol/x/clob/keeper/process_single_match.go`). Quote = floor(quantums * subticks * 10^qce).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.devnet.unit.txkit import (
    BTC,
    BUY,
    CONDITIONAL,
    IOC,
    LONG_TERM,
    SELL,
    STOP_LOSS,
    TAKE_PROFIT,
    Chain,
    order,
    order_id,
)

from dydx_devnet.events import (
    BlockCommitted,
    Fill,
    OraclePriceUpdated,
    OrderPlaced,
    OrderRemoved,
    OrderTriggered,
    PlacementStatus,
    RemovalReason,
    RemovalStatus,
    SubaccountUpdated,
    Transfer,
)
from dydx_devnet.model import Liquidity, Side

PRICE = 2_800_000_000  # $28,000


@pytest.fixture
def chain() -> Chain:
    return Chain.create()


def _usdc(chain: Chain, w: object) -> int:
    s = chain.state.subaccount(w.address, 0)  # type: ignore[attr-defined]
    assert s is not None
    return s.usdc_quantums


def _pos(chain: Chain, w: object) -> int:
    s = chain.state.subaccount(w.address, 0)  # type: ignore[attr-defined]
    assert s is not None
    p = s.position(0)
    return p.quantums if p else 0


def test_fill_moves_positions_usdc_and_fees(chain: Chain) -> None:
    maker, taker = chain.funded(1, "10000"), chain.funded(2, "10000")
    assert chain.send(
        maker, order(order_id(maker, 1), side=SELL, subticks=PRICE, gtb=chain.gtb())
    ).ok
    # the taker bids above the ask: the fill is at the maker's price
    r = chain.send(
        taker,
        order(order_id(taker, 1), side=BUY, subticks=PRICE + 500_000, gtb=chain.gtb(), tif=IOC),
    )
    assert r.ok
    quote = 10_000_000 * PRICE // 10**9  # 0.001 BTC * $28,000 = $28 = 28,000,000 quantums
    assert quote == 28_000_000
    taker_fee = 14_000  # 500 ppm
    maker_fee = -3_080  # -110 ppm (a rebate)
    assert _pos(chain, taker) == 10_000_000
    assert _pos(chain, maker) == -10_000_000
    assert _usdc(chain, taker) == 10_000_000_000 - quote - taker_fee
    assert _usdc(chain, maker) == 10_000_000_000 + quote - maker_fee


def test_fee_rounds_toward_positive_infinity(chain: Chain) -> None:
    maker, taker = chain.funded(1), chain.funded(2)
    # quote 28,001,000 -> taker fee 14,000.5 -> 14,001; rebate -3,080.11 -> -3,080
    odd = 2_800_100_000
    chain.send(maker, order(order_id(maker, 1), side=SELL, subticks=odd, gtb=chain.gtb()))
    sub = chain.bus.subscribe()
    chain.send(taker, order(order_id(taker, 1), side=BUY, subticks=odd, gtb=chain.gtb(), tif=IOC))
    chain.commit()
    fills = [e for b in sub.drain() for e in b.events if isinstance(e, Fill)]
    assert len(fills) == 1
    f = fills[0]
    assert f.quote_quantums == 28_001_000
    assert f.taker.fee_quote_quantums == 14_001
    assert f.maker.fee_quote_quantums == -3_080
    assert (f.taker.liquidity, f.maker.liquidity) == (Liquidity.TAKER, Liquidity.MAKER)
    assert (f.taker.side, f.maker.side) == (Side.BUY, Side.SELL)


def test_price_time_priority(chain: Chain) -> None:
    a, b, c, taker = chain.funded(1), chain.funded(2), chain.funded(3), chain.funded(4)
    chain.send(a, order(order_id(a, 1), side=SELL, subticks=PRICE + 100_000, gtb=chain.gtb()))
    chain.send(b, order(order_id(b, 1), side=SELL, subticks=PRICE, gtb=chain.gtb()))
    chain.send(c, order(order_id(c, 1), side=SELL, subticks=PRICE, gtb=chain.gtb()))
    sub = chain.bus.subscribe()
    chain.send(
        taker,
        order(
            order_id(taker, 1),
            side=BUY,
            quantums=25_000_000,
            subticks=PRICE + 100_000,
            gtb=chain.gtb(),
            tif=IOC,
        ),
    )
    chain.commit()
    fills = [e for batch in sub.drain() for e in batch.events if isinstance(e, Fill)]
    makers = [(f.maker.subaccount_id.owner, f.quantums, f.subticks) for f in fills]
    assert makers == [
        (b.address, 10_000_000, PRICE),  # best price, first in time
        (c.address, 10_000_000, PRICE),
        (a.address, 5_000_000, PRICE + 100_000),
    ]
    left = chain.state.open_orders(clob_pair_id=BTC)
    assert [(o.order.order_id.subaccount_id.owner, o.remaining_quantums) for o in left] == [
        (a.address, 5_000_000)
    ]


def test_limit_order_rests_after_a_partial_fill(chain: Chain) -> None:
    maker, taker = chain.funded(1), chain.funded(2)
    chain.send(maker, order(order_id(maker, 1), side=SELL, subticks=PRICE, gtb=chain.gtb()))
    chain.send(
        taker,
        order(order_id(taker, 1), side=BUY, quantums=30_000_000, subticks=PRICE, gtb=chain.gtb()),
    )
    [rest] = chain.state.open_orders(clob_pair_id=BTC)
    assert rest.order.order_id.subaccount_id.owner == taker.address
    assert (rest.filled_quantums, rest.remaining_quantums) == (10_000_000, 20_000_000)
    book = chain.state.book(BTC)
    assert book is not None
    assert [(lv.subticks, lv.quantums) for lv in book.bids] == [(PRICE, 20_000_000)]
    assert book.asks == ()


def test_self_trade_removes_the_resting_maker(chain: Chain) -> None:
    w = chain.funded(1)
    chain.send(w, order(order_id(w, 1), side=SELL, subticks=PRICE, gtb=chain.gtb()))
    sub = chain.bus.subscribe()
    assert chain.send(
        w, order(order_id(w, 2), side=BUY, subticks=PRICE, gtb=chain.gtb(), tif=IOC)
    ).ok
    assert chain.state.open_orders() == []
    assert _pos(chain, w) == 0
    removed = [e for b in sub.drain() for e in b.events if isinstance(e, OrderRemoved)]
    assert RemovalReason.SELF_TRADE_ERROR in [e.reason for e in removed]


def test_taker_failing_collateral_stops_matching_but_checktx_succeeds(chain: Chain) -> None:
    maker, poor = chain.funded(1, "1000000"), chain.funded(2, "100")
    one_btc = 10_000_000_000
    gtb = chain.gtb()
    chain.send(
        maker, order(order_id(maker, 1), side=SELL, quantums=one_btc, subticks=PRICE, gtb=gtb)
    )
    # $100 of collateral cannot carry 1 BTC (initial margin 5% of ~$28,700)
    r = chain.send(
        poor, order(order_id(poor, 1), side=BUY, quantums=one_btc, subticks=PRICE, gtb=gtb, tif=IOC)
    )
    assert r.ok
    assert _pos(chain, poor) == 0
    assert _usdc(chain, poor) == 100_000_000
    [maker_order] = chain.state.open_orders(clob_pair_id=BTC)
    assert maker_order.filled_quantums == 0


def test_short_term_order_expires_when_height_passes_good_til_block(chain: Chain) -> None:
    w = chain.funded(1)
    gtb = chain.gtb(2)
    chain.send(w, order(order_id(w, 1), subticks=PRICE, gtb=gtb))
    sub = chain.bus.subscribe()
    chain.commit()  # the next block (gtb) may still match it
    assert len(chain.state.open_orders()) == 1
    chain.commit()  # block gtb is committed: no later block may include it
    assert chain.height == gtb
    assert chain.state.open_orders() == []
    removed = [e for b in sub.drain() for e in b.events if isinstance(e, OrderRemoved)]
    assert [(e.reason, e.status, e.height) for e in removed] == [
        (RemovalReason.EXPIRED, RemovalStatus.CANCELED, gtb)
    ]


def test_stateful_order_is_committed_in_the_next_block(chain: Chain) -> None:
    w = chain.funded(1)
    tx = chain.tx(w, order(order_id(w, 1, flags=LONG_TERM), subticks=PRICE, gtbt=chain.gtbt()))
    r = chain.engine.check_tx(tx)
    assert r.ok
    assert chain.state.open_orders() == []
    assert r.tx_hash not in chain.engine.committed_txs
    sub = chain.bus.subscribe()
    h = chain.commit()
    [batch] = sub.drain()
    assert batch.block == BlockCommitted(h, chain.state.block_time, (r.tx_hash,))
    placed = [e for e in batch.events if isinstance(e, OrderPlaced)]
    assert [(e.status, e.tx_hash) for e in placed] == [(PlacementStatus.OPENED, r.tx_hash)]
    assert chain.engine.committed_txs[r.tx_hash].height == h
    assert len(chain.state.open_orders()) == 1


def test_short_term_txs_never_reach_a_block(chain: Chain) -> None:
    w = chain.funded(1)
    r = chain.send(w, order(order_id(w, 1), subticks=PRICE, gtb=chain.gtb()))
    sub = chain.bus.subscribe()
    chain.commit()
    assert r.tx_hash not in chain.engine.committed_txs
    [batch] = sub.drain()
    assert batch.block is not None and batch.block.tx_hashes == ()


def test_offchain_batch_for_a_short_term_placement(chain: Chain) -> None:
    w = chain.funded(1)
    sub = chain.bus.subscribe()
    r = chain.send(w, order(order_id(w, 1), subticks=PRICE, gtb=chain.gtb()))
    [batch] = sub.drain()
    assert batch.block is None
    [placed] = batch.events
    assert isinstance(placed, OrderPlaced)
    assert placed.status == PlacementStatus.BEST_EFFORT_OPENED
    assert placed.tx_hash == r.tx_hash
    assert placed.height == chain.height


def test_conditional_orders_trigger_on_the_oracle_price(chain: Chain) -> None:
    maker, w = chain.funded(1, "1000000"), chain.funded(2)
    oracle = chain.oracle_subticks()
    # stop-loss sell: triggers when the oracle falls to the trigger; take-profit sell when it rises
    stop_trigger = (oracle - 2_000_000_000) // 100_000 * 100_000  # $20,000 below
    tp_trigger = (oracle + 2_000_000_000) // 100_000 * 100_000
    for cid, ctype, trig in ((1, STOP_LOSS, stop_trigger), (2, TAKE_PROFIT, tp_trigger)):
        r = chain.send(
            w,
            order(
                order_id(w, cid, flags=CONDITIONAL),
                side=SELL,
                subticks=100_000,
                gtbt=chain.gtbt(),
                tif=IOC,
                condition_type=ctype,
                trigger=trig,
            ),
        )
        assert r.ok
    chain.commit()
    assert len([o for o in chain.state.open_orders() if not o.triggered]) == 2
    chain.send(
        maker,
        order(
            order_id(maker, 1),
            side=BUY,
            quantums=50_000_000,
            subticks=100_000_000,
            gtb=chain.gtb(20),
        ),
    )
    sub = chain.bus.subscribe()
    # BTC's oracle exponent (-5) makes its oracle price integer equal to its price in subticks
    chain.engine.set_oracle_price(0, stop_trigger)
    chain.commit()
    events = [e for b in sub.drain() for e in b.events]
    assert any(isinstance(e, OraclePriceUpdated) for e in events)
    triggered = [e.order.order_id.client_id for e in events if isinstance(e, OrderTriggered)]
    assert triggered == [1]
    fills = [e for e in events if isinstance(e, Fill)]
    assert [f.taker.order.order_id.client_id for f in fills] == [1]
    assert _pos(chain, w) == -10_000_000


def test_fund_emits_a_deposit_in_the_next_block(chain: Chain) -> None:
    sub = chain.bus.subscribe()
    w = chain.funded(7, "12.5")
    assert _usdc(chain, w) == 12_500_000
    chain.commit()
    events = [e for b in sub.drain() for e in b.events]
    deposits = [e for e in events if isinstance(e, Transfer)]
    assert [(d.recipient.owner, d.quantums) for d in deposits] == [(w.address, 12_500_000)]  # type: ignore[union-attr]
    assert any(isinstance(e, SubaccountUpdated) for e in events)
    assert isinstance(events[-1], BlockCommitted)
    acc = chain.state.account(w.address)
    assert acc is not None and acc.sequence == 0


def test_fund_rejects_bad_input(chain: Chain) -> None:
    with pytest.raises(ValueError, match="invalid address"):
        chain.engine.fund("cosmos1xyz", 0, Decimal(1))
    with pytest.raises(ValueError, match="non-negative"):
        chain.engine.fund(chain.funded(1).address, 0, Decimal(-1))


def test_market_makers_quote_around_the_oracle_so_market_orders_fill() -> None:
    chain = Chain.create(market_makers=True, oracle_walk=True)
    chain.commit(2)
    for m in chain.state.markets():
        book = chain.state.book(m.clob_pair_id)
        assert book is not None and book.bids and book.asks, m.ticker
        oracle = m.oracle_subticks(chain.state.oracle_price(m.market_param.id))
        assert book.bids[0].subticks < oracle < book.asks[0].subticks
    w = chain.funded(1)
    worst = chain.oracle_subticks() * 105 // 100 // 100_000 * 100_000  # oracle + 5%
    r = chain.send(
        w,
        order(
            order_id(w, 1), side=BUY, quantums=10_000_000, subticks=worst, gtb=chain.gtb(), tif=IOC
        ),
    )
    assert r.ok
    assert _pos(chain, w) == 10_000_000


def test_same_seed_same_market() -> None:
    def run(seed: int) -> list[object]:
        chain = Chain.create(seed=seed, market_makers=True, oracle_walk=True)
        chain.commit(30)
        return [
            chain.state.oracle_prices(),
            [chain.state.book(m.clob_pair_id) for m in chain.state.markets()],
        ]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_a_failed_fill_does_not_create_an_empty_subaccount(chain: Chain) -> None:
    maker, w = chain.funded(1), chain.funded(2)
    chain.send(maker, order(order_id(maker, 1), side=SELL, subticks=PRICE, gtb=chain.gtb()))
    # subaccount 5 holds nothing: the fill fails its collateral check
    r = chain.send(
        w, order(order_id(w, 1, number=5), side=BUY, subticks=PRICE, gtb=chain.gtb(), tif=IOC)
    )
    assert r.ok
    assert chain.state.subaccount(w.address, 5) is None
