"""CheckTx rejects what the chain's ValidateBasic rejects, with the same (codespace, code).

Source of each expectation: `protocol/x/clob/types/message_place_order.go`,
`message_cancel_order.go`, `message_batch_cancel.go`, `protocol/x/subaccounts/types/subaccount.go`.
"""

from __future__ import annotations

import pytest
from tests.devnet.unit.txkit import (
    BTC,
    BUY,
    CONDITIONAL,
    FOK,
    IOC,
    LONG_TERM,
    POST_ONLY,
    STOP_LOSS,
    Chain,
    batch_cancel,
    cancel,
    codes,
    order,
    order_id,
)


@pytest.fixture
def chain() -> Chain:
    return Chain.create()


def test_fill_or_kill_is_deprecated(chain: Chain) -> None:
    w = chain.funded(1)
    r = chain.send(w, order(order_id(w, 1), gtb=chain.gtb(), tif=FOK))
    assert codes(r) == ("clob", 48)
    assert r.raw_log == "Fill-or-kill has been deprecated: This field has been deprecated"


def test_subaccount_owner_must_be_a_dydx_address(chain: Chain) -> None:
    w = chain.funded(1)
    bad = order_id("cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu", 1)
    assert codes(chain.send(w, order(bad, gtb=chain.gtb()))) == ("subaccounts", 201)


def test_subaccount_number_above_128000(chain: Chain) -> None:
    w = chain.funded(1)
    r = chain.send(w, order(order_id(w, 1, number=128_001), gtb=chain.gtb()))
    assert codes(r) == ("subaccounts", 200)
    assert r.raw_log == "subaccount id number cannot exceed 128000"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"side": 0}, ("clob", 3)),
        ({"side": 7}, ("clob", 3)),
        ({"tif": 9}, ("clob", 44)),
        ({"condition_type": 9}, ("clob", 6000)),
        ({"quantums": 0}, ("clob", 4)),
        ({"subticks": 0}, ("clob", 6)),
        ({"tif": 0, "reduce_only": True}, ("clob", 9003)),
        ({"tif": POST_ONLY, "reduce_only": True}, ("clob", 9003)),
        ({"condition_type": STOP_LOSS}, ("clob", 6000)),
        ({"trigger": 100_000}, ("clob", 6001)),
    ],
)
def test_short_term_order_fields(
    chain: Chain, fields: dict[str, int], expected: tuple[str, int]
) -> None:
    w = chain.funded(1)
    assert codes(chain.send(w, order(order_id(w, 1), gtb=chain.gtb(), **fields))) == expected


def test_side_unspecified_log(chain: Chain) -> None:
    w = chain.funded(1)
    r = chain.send(w, order(order_id(w, 1), side=0, gtb=chain.gtb()))
    assert r.raw_log == "UNSPECIFIED is not a valid order side: Invalid order side"


def test_short_term_needs_good_til_block(chain: Chain) -> None:
    w = chain.funded(1)
    assert codes(chain.send(w, order(order_id(w, 1)))) == ("clob", 5)
    # a short-term order carrying only good_til_block_time fails the same check
    assert codes(chain.send(w, order(order_id(w, 2), gtbt=chain.gtbt()))) == ("clob", 5)


def test_stateful_needs_good_til_block_time(chain: Chain) -> None:
    w = chain.funded(1)
    r = chain.send(w, order(order_id(w, 1, flags=LONG_TERM), gtb=chain.gtb()))
    assert codes(r) == ("clob", 3001)


def test_unknown_order_flags(chain: Chain) -> None:
    w = chain.funded(1)
    r = chain.send(w, order(order_id(w, 1, flags=7), gtb=chain.gtb()))
    assert codes(r) == ("clob", 3000)


def test_long_term_cannot_be_ioc(chain: Chain) -> None:
    w = chain.funded(1)
    r = chain.send(w, order(order_id(w, 1, flags=LONG_TERM), gtbt=chain.gtbt(), tif=IOC))
    assert codes(r) == ("clob", 3002)
    assert r.raw_log == "Stateful orders cannot require immediate execution"


def test_conditional_may_be_ioc_but_needs_condition_and_trigger(chain: Chain) -> None:
    w = chain.funded(1)
    oid = order_id(w, 1, flags=CONDITIONAL)
    assert codes(chain.send(w, order(oid, gtbt=chain.gtbt(), tif=IOC, trigger=100_000))) == (
        "clob",
        6000,
    )
    r = chain.send(w, order(oid, gtbt=chain.gtbt(), tif=IOC, condition_type=STOP_LOSS))
    assert codes(r) == ("clob", 6001)


def test_cancel_good_til_fields(chain: Chain) -> None:
    w = chain.funded(1)
    assert codes(chain.send(w, cancel(order_id(w, 1)))) == ("clob", 5)
    assert codes(chain.send(w, cancel(order_id(w, 1, flags=LONG_TERM)))) == ("clob", 3001)


@pytest.mark.parametrize(
    "batches",
    [
        {},
        {BTC: []},
        {BTC: [1, 1]},
        {BTC: list(range(60)), 1: list(range(41))},
    ],
)
def test_batch_cancel_shape(chain: Chain, batches: dict[int, list[int]]) -> None:
    w = chain.funded(1)
    r = chain.send(w, batch_cancel(w, batches, chain.gtb()))
    assert codes(r) == ("clob", 45)


def test_batch_cancel_duplicate_clob_pair(chain: Chain) -> None:
    from v4_proto.dydxprotocol.clob.tx_pb2 import OrderBatch

    w = chain.funded(1)
    msg = batch_cancel(w, {BTC: [1]}, chain.gtb())
    msg.short_term_cancels.append(OrderBatch(clob_pair_id=BTC, client_ids=[2]))
    assert codes(chain.send(w, msg)) == ("clob", 45)


def test_valid_order_passes(chain: Chain) -> None:
    w = chain.funded(1)
    assert chain.send(w, order(order_id(w, 1), side=BUY, gtb=chain.gtb())).ok
