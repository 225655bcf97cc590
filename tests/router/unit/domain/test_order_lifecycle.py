from __future__ import annotations

import itertools

import pytest

from dydx_router.domain.errors import IllegalTransition
from dydx_router.domain.order import (
    FINAL_STATUSES,
    TRANSITIONS,
    OrderStatus,
    check_transition,
)


def test_every_status_has_a_row() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)


@pytest.mark.parametrize("final", sorted(FINAL_STATUSES))
def test_final_statuses_never_change(final: OrderStatus) -> None:
    for target in OrderStatus:
        with pytest.raises(IllegalTransition):
            check_transition(final, target)


def test_happy_paths() -> None:
    path = [
        OrderStatus.PENDING,
        OrderStatus.SUBMITTED,
        OrderStatus.OPEN,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
    ]
    for a, b in itertools.pairwise(path):
        check_transition(a, b)
    check_transition(OrderStatus.PENDING, OrderStatus.UNKNOWN)
    check_transition(OrderStatus.UNKNOWN, OrderStatus.FILLED)
    check_transition(OrderStatus.OPEN, OrderStatus.CANCEL_REQUESTED)
    check_transition(OrderStatus.CANCEL_REQUESTED, OrderStatus.CANCELED)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (OrderStatus.PENDING, OrderStatus.FILLED),  # never filled before the chain accepted it
        (OrderStatus.OPEN, OrderStatus.PENDING),
        (OrderStatus.SUBMITTED, OrderStatus.REJECTED),  # accepted orders are never "rejected"
        (OrderStatus.PARTIALLY_FILLED, OrderStatus.OPEN),
    ],
)
def test_illegal_transitions_raise(a: OrderStatus, b: OrderStatus) -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition(a, b)
    assert info.value.code == "illegal_status_transition"
