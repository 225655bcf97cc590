"""The chain error model: (codespace, code) keys, dispositions, names from the chain's registry."""

import csv
from pathlib import Path

import pytest

from dydx_router.chain.errors import (
    ChainRejected,
    Disposition,
    RateLimited,
    SequenceMismatch,
    TimestampNonceRejected,
    classify,
    rejection,
)

CLOB_ERRORS = Path(__file__).resolve().parents[4] / "shared" / "dydx" / "clob-errors.tsv"


def _registry() -> dict[int, str]:
    with CLOB_ERRORS.open() as f:
        return {int(row["code"]): row["name"] for row in csv.DictReader(f, delimiter="\t")}


def test_sdk_32_and_clob_32_are_different_things() -> None:
    sdk = rejection(
        "sdk", 32, "account sequence mismatch, expected 12, got 10: incorrect account sequence"
    )
    clob = rejection(
        "clob", 32, "Existing stateful order cancellation has higher-or-equal priority"
    )
    assert isinstance(sdk, SequenceMismatch)
    assert (sdk.expected, sdk.got) == (12, 10)
    assert sdk.disposition is Disposition.RETRYABLE
    assert not isinstance(clob, SequenceMismatch)
    assert clob.name == "ErrStatefulOrderCancellationAlreadyExists"
    assert clob.disposition is Disposition.BENIGN_FOR_CANCEL
    assert sdk.key == ("sdk", 32) and clob.key == ("clob", 32)
    assert sdk.code != clob.code  # distinct machine-readable codes for the API


def test_timestamp_nonce_rejections_are_their_own_type() -> None:
    for log in (
        "timestamp nonce 1767225600000 not within valid time window",
        "timestamp nonce 5 rejected",
    ):
        err = rejection("sdk", 32, log)
        assert isinstance(err, TimestampNonceRejected)
        assert not isinstance(err, SequenceMismatch)


def test_every_registered_clob_code_has_its_registered_name() -> None:
    registry = _registry()
    for code, name in registry.items():
        known_name, disposition = classify("clob", code)
        assert isinstance(disposition, Disposition)
        if not known_name.startswith("clob/"):
            assert known_name == name, code


@pytest.mark.parametrize(
    ("codespace", "code", "disposition"),
    [
        # A cancel whose order is gone or already being cancelled reached its goal.
        ("clob", 2, Disposition.BENIGN_FOR_CANCEL),
        ("clob", 9, Disposition.BENIGN_FOR_CANCEL),
        ("clob", 24, Disposition.BENIGN_FOR_CANCEL),
        ("clob", 3006, Disposition.BENIGN_FOR_CANCEL),
        # Transient: resend the same OrderId after the remedy.
        ("clob", 10, Disposition.RETRYABLE),
        ("clob", 11, Disposition.RETRYABLE),
        ("clob", 5001, Disposition.RETRYABLE),
        ("sdk", 20, Disposition.RETRYABLE),
        # The identical tx/order is already with the chain.
        ("sdk", 19, Disposition.ALREADY_SUBMITTED),
        ("clob", 3005, Disposition.ALREADY_SUBMITTED),
        # Refusals that will not change.
        ("sdk", 4, Disposition.DEFINITIVE),
        ("clob", 12, Disposition.DEFINITIVE),
        ("clob", 2003, Disposition.DEFINITIVE),
        ("clob", 3007, Disposition.DEFINITIVE),
        ("subaccounts", 200, Disposition.DEFINITIVE),
        ("somemodule", 77, Disposition.DEFINITIVE),  # unknown: never retried blindly
    ],
)
def test_dispositions(codespace: str, code: int, disposition: Disposition) -> None:
    err = rejection(codespace, code, "log", tx_hash="AB")
    assert isinstance(err, ChainRejected)
    assert err.disposition is disposition
    assert err.retryable is (disposition is Disposition.RETRYABLE)
    assert err.tx_hash == "AB"


def test_rejection_message_names_the_key_and_keeps_the_log() -> None:
    err = rejection("clob", 11, "GoodTilBlock 200 exceeds the short block window: ...")
    assert str(err).startswith(
        "chain rejected the tx: clob/11 ErrGoodTilBlockExceedsShortBlockWindow: "
    )
    assert err.details["codespace"] == "clob" and err.details["chain_code"] == 11
    assert isinstance(rejection("clob", 5001, "rate"), RateLimited)
