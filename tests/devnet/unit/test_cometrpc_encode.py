"""CometBFT encodings the devnet's RPC computes itself, against upstream vectors."""

from __future__ import annotations

import base64
import hashlib

import pytest

from dydx_devnet.cometrpc.encode import COMETBFT_VERSION, merkle_root, rfc3339, tx_proof
from dydx_devnet.cometrpc.feed import canonical, matches, parse_query


def test_merkle_root_matches_cometbft_rfc6962_vectors() -> None:
    # crypto/merkle/rfc6962_test.go (from trillian): empty tree, empty leaf, one leaf
    assert merkle_root([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert merkle_root([b""]).hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert merkle_root([b"L123456"]).hex() == (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )


def test_merkle_root_splits_at_the_largest_power_of_two_below_n() -> None:
    def leaf(b: bytes) -> bytes:
        return hashlib.sha256(b"\x00" + b).digest()

    def inner(left: bytes, right: bytes) -> bytes:
        return hashlib.sha256(b"\x01" + left + right).digest()

    a, b, c = b"a", b"b", b"c"
    # crypto/merkle/tree.go getSplitPoint: 3 leaves split 2 + 1
    assert merkle_root([a, b, c]) == inner(inner(leaf(a), leaf(b)), leaf(c))
    assert merkle_root([a, b]) == inner(leaf(a), leaf(b))


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (1_700_000_000_000, "2023-11-14T22:13:20Z"),  # no fraction: none printed
        (1_700_000_000_120, "2023-11-14T22:13:20.12Z"),  # trailing zeros dropped (RFC3339Nano)
        (1_700_000_000_007, "2023-11-14T22:13:20.007Z"),
    ],
)
def test_times_print_like_go_rfc3339nano(ms: int, text: str) -> None:
    assert rfc3339(ms) == text


def test_event_queries() -> None:
    events = {"tm.event": ["Tx"], "tx.hash": ["AB"], "tx.height": ["5"]}
    assert matches(parse_query("tm.event='Tx'"), events)
    assert matches(parse_query("tm.event='Tx' AND tx.hash='AB'"), events)
    assert matches(parse_query("tm.event = 'Tx' AND tx.height=5"), events)
    assert not matches(parse_query("tm.event='NewBlock'"), events)
    with pytest.raises(ValueError, match="failed to parse query"):
        parse_query("tx.height > 5")
    with pytest.raises(ValueError, match="maximum query length exceeded"):
        parse_query("tm.event='" + "x" * 600 + "'")


def test_queries_print_as_pubsub_prints_them() -> None:
    # libs/pubsub/query/syntax/syntax.go Condition.String, Arg.String
    assert canonical("tm.event='Tx'") == "tm.event = 'Tx'"
    assert canonical("tm.event = 'Tx'  AND tx.height=5") == "tm.event = 'Tx' AND tx.height = 5"
    with pytest.raises(ValueError, match="failed to parse query"):
        canonical("tx.height > 5")


def _root_from_aunts(index: int, total: int, leaf: bytes, aunts: list[bytes]) -> bytes:
    """crypto/merkle/proof.go computeHashFromAunts, written out independently."""
    if total == 1:
        assert not aunts
        return leaf
    k = 1 << ((total - 1).bit_length() - 1)
    inner = aunts[-1]
    if index < k:
        left = _root_from_aunts(index, k, leaf, aunts[:-1])
        return hashlib.sha256(b"\x01" + left + inner).digest()
    right = _root_from_aunts(index - k, total - k, leaf, aunts[:-1])
    return hashlib.sha256(b"\x01" + inner + right).digest()


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_tx_proofs_verify_against_the_data_hash(n: int) -> None:
    txs = [bytes([i]) * (i + 1) for i in range(n)]
    data_hash = merkle_root([hashlib.sha256(t).digest() for t in txs])
    for i, tx in enumerate(txs):
        p = tx_proof(txs, i)
        assert p["root_hash"] == data_hash.hex().upper()
        assert base64.b64decode(p["data"]) == tx
        proof = p["proof"]
        assert (proof["total"], proof["index"]) == (str(n), str(i))
        leaf = base64.b64decode(proof["leaf_hash"])
        assert leaf == hashlib.sha256(b"\x00" + hashlib.sha256(tx).digest()).digest()
        aunts = [base64.b64decode(a) for a in proof.get("aunts", [])]
        assert ("aunts" in proof) == (n > 1)  # omitempty
        assert _root_from_aunts(i, n, leaf, aunts) == data_hash


def test_status_reports_the_forks_version() -> None:
    # dydxprotocol/cometbft dydx-fork-v0.38.5 version/version.go: TMCoreSemVer = "0.38.5"; a
    # pseudo-version v0.38.6-0.<date> is a commit after v0.38.5, not a v0.38.6 release
    assert COMETBFT_VERSION == "0.38.5"
