"""Wire details of the indexer: computable ids, number/time formats, and the swagger check."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from tests.fixtures.indexer_swagger import IndexerSwagger

from dydx_devnet.indexer import fmt, ids


def test_subaccount_uuid_matches_the_indexer() -> None:
    # `indexer/packages/postgres/src/constants.ts`: MEGAVAULT_SUBACCOUNT_ID is the uuid of the
    # megavault module address, subaccount 0.
    assert (
        ids.subaccount_uuid("dydx18tkxrnrkqc2t0lr3zxr5g6a4hdvqksylxqje4r", 0)
        == "c7169f81-0c80-54c5-a41f-9cbb6a538fdf"
    )


def test_order_uuid_depends_on_every_part_of_the_order_id() -> None:
    base = ("dydx18tkxrnrkqc2t0lr3zxr5g6a4hdvqksylxqje4r", 0, 7, 0, 0)
    variants = [
        base,
        (base[0], 1, 7, 0, 0),
        (base[0], 0, 8, 0, 0),
        (base[0], 0, 7, 1, 0),
        (base[0], 0, 7, 0, 64),
    ]
    assert len({ids.order_uuid(*v) for v in variants}) == len(variants)
    # clobPairId and orderFlags are not interchangeable (`${sub}-${client}-${clob}-${flags}`).
    assert ids.order_uuid(base[0], 0, 7, 64, 0) != ids.order_uuid(base[0], 0, 7, 0, 64)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("100", "100"),
        ("1E+2", "100"),
        ("0.00030", "0.0003"),
        ("-0", "0"),
        ("0E-10", "0"),
        ("1E-10", "0.0000000001"),
        ("-1.50", "-1.5"),
    ],
)
def test_amounts_are_plain_decimal_strings(value: str, text: str) -> None:
    assert fmt.dec(Decimal(value)) == text


def test_times_are_utc_iso_with_milliseconds() -> None:
    assert fmt.iso_ms(1_764_000_000_123) == "2025-11-24T16:00:00.123Z"
    assert fmt.iso(datetime(2026, 1, 2, 3, 4, 5, 678_999, tzinfo=UTC)) == "2026-01-02T03:04:05.678Z"
    assert fmt.parse_iso_ms("2025-11-24T16:00:00.123Z") == 1_764_000_000_123
    assert fmt.parse_iso_ms("2025-11-24T16:00:00Z") == 1_764_000_000_000
    with pytest.raises(ValueError):
        fmt.parse_iso_ms("yesterday")


def _subaccount() -> dict[str, object]:
    return {
        "address": "dydx1x",
        "subaccountNumber": 0,
        "equity": "1",
        "freeCollateral": "1",
        "openPerpetualPositions": {},
        "assetPositions": {},
        "marginEnabled": True,
        "updatedAtHeight": "1",
        "latestProcessedBlockHeight": "1",
    }


def test_the_swagger_check_rejects_what_the_real_indexer_would_not_send(
    indexer_swagger: IndexerSwagger,
) -> None:
    path = "/addresses/{address}/subaccountNumber/{subaccountNumber}"
    indexer_swagger.validate_response(path, {"subaccount": _subaccount()})
    # The only divergence allowed is the documented wrapper; the bare object fails.
    with pytest.raises(AssertionError):
        indexer_swagger.validate_response(path, _subaccount())
    for broken in (
        {**_subaccount(), "equity": 1},  # a number where the spec has a decimal string
        {**_subaccount(), "extra": "x"},  # additionalProperties: false
        {k: v for k, v in _subaccount().items() if k != "freeCollateral"},
    ):
        with pytest.raises(AssertionError):
            indexer_swagger.validate_response(path, {"subaccount": broken})
    # nullable fields accept null, others do not.
    pos = {
        "market": "BTC-USD", "status": "OPEN", "side": "LONG", "size": "1", "maxSize": "1",
        "entryPrice": "1", "realizedPnl": "0", "createdAt": "x", "createdAtHeight": "1",
        "sumOpen": "1", "sumClose": "0", "netFunding": "0", "unrealizedPnl": "0",
        "subaccountNumber": 0, "exitPrice": None, "closedAt": None,
    }  # fmt: skip
    indexer_swagger.validate_component("PerpetualPositionResponseObject", pos)
    with pytest.raises(AssertionError):
        indexer_swagger.validate_component(
            "PerpetualPositionResponseObject", {**pos, "entryPrice": None}
        )
    with pytest.raises(AssertionError):
        indexer_swagger.validate_response("/orders", {"orders": []})  # a bare array
