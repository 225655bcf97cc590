"""CometBFT 0.38's JSON encodings of the RPC results the devnet serves.

CometBFT marshals results with `libs/json` (cmtjson): int64/uint64 as decimal strings, int32 and
uint32 as numbers, `[]byte` as base64, `HexBytes` as upper-case hex, `time.Time` as RFC 3339 with
nanoseconds (trailing zeros dropped), and it honours `omitempty`, which every gogoproto field of
the ABCI types carries (`abci/types/types.pb.go`), except where a type has its own MarshalJSON:
ExecTxResult, ResponseCheckTx and ResponseQuery print every field (`abci_result`). The
result types are `rpc/core/types/responses.go`; CosmJS decodes them in
`packages/tendermint-rpc/src/tendermint37/adaptor/responses.ts` (what the official TypeScript
client parses).

What the devnet does not model is left empty rather than made up: commit signatures (there is no
consensus), tx events. Hashes that depend on state the devnet does not keep (app hash, validator
set, consensus params, results) are stand-ins: sha256 of a label, the chain id and the height.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dydx_devnet.engine import validator_address, validator_pubkey

if TYPE_CHECKING:
    from dydx_devnet.engine import CommittedTx, Engine

# The versions GetNodeInfo and the gRPC block header report (`dydx_devnet.node`).
BLOCK_PROTOCOL = 11
APP_PROTOCOL = 9
P2P_PROTOCOL = 8
# node_info.version: v4-chain's go.mod replaces cometbft with dydxprotocol/cometbft
# v0.38.6-0.20260126154011-467083c7ba0b, a Go pseudo-version for a commit after the v0.38.5 tag;
# the fork's dydx-fork-v0.38.5 branch reports version/version.go TMCoreSemVer "0.38.5" (that
# commit itself is not in our mirror, so this is the closest confirmed value).
COMETBFT_VERSION = "0.38.5"
# The channels a CometBFT 0.38 node with the mempool, evidence, consensus, block sync and state
# sync reactors announces (`p2p` channel ids, printed as HexBytes).
CHANNELS = "40202122233038606100"
VOTING_POWER = 10


def hexu(b: bytes) -> str:
    """`HexBytes` JSON: upper-case hex."""
    return b.hex().upper()


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def rfc3339(ms: int) -> str:
    """Go's `time.Time` JSON (RFC3339Nano, UTC, trailing zeros of the fraction dropped)."""
    dt = datetime.fromtimestamp(ms // 1000, tz=UTC)
    frac = f"{ms % 1000:03d}".rstrip("0")
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def merkle_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 simple Merkle root (`crypto/merkle/tree.go` HashFromByteSlices): leaves hashed
    with a 0x00 prefix, inner nodes with 0x01, split at the largest power of two below n."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((n - 1).bit_length() - 1)
    left, right = merkle_root(leaves[:k]), merkle_root(leaves[k:])
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_proof(leaves: list[bytes], index: int) -> tuple[bytes, list[bytes]]:
    """The leaf hash of ``leaves[index]`` and its aunts, the sibling hashes from the leaf up to
    the root's child (`crypto/merkle/proof.go` ProofsFromByteSlices, trail FlattenAunts)."""
    n = len(leaves)
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest(), []
    k = 1 << ((n - 1).bit_length() - 1)
    if index < k:
        leaf, aunts = merkle_proof(leaves[:k], index)
        return leaf, [*aunts, merkle_root(leaves[k:])]
    leaf, aunts = merkle_proof(leaves[k:], index - k)
    return leaf, [*aunts, merkle_root(leaves[:k])]


def tx_proof(txs: list[bytes], index: int) -> dict[str, Any]:
    """`types.TxProof` of ``txs[index]`` (`types/tx.go` Txs.Proof: the leaves are the txs'
    sha256 hashes, so root_hash is the header's data_hash): root_hash HexBytes, data the tx in
    base64, proof `merkle.Proof` with total and index int64s (strings), leaf_hash and aunts
    base64, aunts omitempty (none for a block of one tx)."""
    leaves = [hashlib.sha256(t).digest() for t in txs]
    leaf, aunts = merkle_proof(leaves, index)
    proof: dict[str, Any] = {"total": str(len(txs)), "index": str(index), "leaf_hash": b64(leaf)}
    if aunts:
        proof["aunts"] = [b64(a) for a in aunts]
    return {"root_hash": hexu(merkle_root(leaves)), "data": b64(txs[index]), "proof": proof}


def stand_in(chain_id: str, label: str, height: int) -> bytes:
    return hashlib.sha256(f"{chain_id}:{label}:{height}".encode()).digest()


def pub_key(index: int) -> dict[str, str]:
    """An ed25519 key in amino JSON (`crypto/ed25519`, registered as tendermint/PubKeyEd25519)."""
    return {"type": "tendermint/PubKeyEd25519", "value": b64(validator_pubkey(index))}


def block_id(block_hash: bytes) -> dict[str, Any]:
    """`types.BlockID`; an absent one (height 1's last block id) is empty strings and total 0."""
    if not block_hash:
        return {"hash": "", "parts": {"total": 0, "hash": ""}}
    return {"hash": hexu(block_hash), "parts": {"total": 1, "hash": hexu(block_hash)}}


def abci_result(
    *, code: int = 0, log: str = "", gas_wanted: int = 0, codespace: str = ""
) -> dict[str, Any]:
    """An `abci.ExecTxResult` or `abci.ResponseCheckTx` (the same fields) as CometBFT prints it
    where it is reachable through a pointer: their MarshalJSON (`abci/types/types.go`) is gogo
    jsonpb with EmitDefaults, so every field is there, zero or not (int64s as strings, a nil
    `data` as null, no events as []). That is how `tx`, `block_results`, `broadcast_tx_commit`
    and NewBlock's `tx_results` print them. No data and no events are modelled; gas_used is 0
    (clob txs run on a free gas meter, `app/ante/gas.go`)."""
    return {
        "code": code,
        "data": None,
        "log": log,
        "info": "",
        "gas_wanted": str(gas_wanted),
        "gas_used": "0",
        "events": [],
        "codespace": codespace,
    }


def omit_empty(result: dict[str, Any]) -> dict[str, Any]:
    """The same struct printed by cmtjson's reflection, which honours `omitempty` (the Tx
    event's `result`: held by value in an interface, so MarshalJSON's pointer receiver is not
    reachable, `libs/json/encoder.go`)."""
    return {k: v for k, v in result.items() if v not in (0, "", "0", None, [])}


def exec_tx_result(ct: CommittedTx) -> dict[str, Any]:
    """`abci.ExecTxResult` of a delivered devnet tx (`abci_result`): code 0 unless a message
    failed in the block (x/accountplus's message server: code, log, codespace); gas_wanted the
    tx's gas limit."""
    return abci_result(
        code=ct.code, log=ct.raw_log, gas_wanted=ct.gas_wanted, codespace=ct.codespace
    )


def block_txs(engine: Engine, height: int) -> list[CommittedTx]:
    """The txs of a kept block, in order: the stateful txs it delivered. (A real dYdX block also
    carries the proposer's injected txs, MsgProposedOperations and price updates; the devnet's
    block does not, so those are absent.)"""
    record = engine.blocks.get(height)
    if record is None:
        return []
    return [engine.committed_txs[h] for h in record.txs if h in engine.committed_txs]


def header(engine: Engine, height: int) -> dict[str, Any]:
    chain_id = engine.state.chain_id
    time_ms = engine.block_times[height]
    record = engine.blocks.get(height)
    txs = block_txs(engine, height)
    prev = engine.block_hash(height - 1) if height > 1 else b""
    last_commit = stand_in(chain_id, "last_commit", height) if height > 1 else b""
    return {
        "version": {"block": str(BLOCK_PROTOCOL), "app": str(APP_PROTOCOL)},
        "chain_id": chain_id,
        "height": str(height),
        "time": rfc3339(time_ms),
        "last_block_id": block_id(prev),
        "last_commit_hash": hexu(last_commit) if last_commit else "",
        "data_hash": hexu(merkle_root([hashlib.sha256(t.tx_bytes).digest() for t in txs])),
        "validators_hash": hexu(stand_in(chain_id, "validators", 0)),
        "next_validators_hash": hexu(stand_in(chain_id, "validators", 0)),
        "consensus_hash": hexu(stand_in(chain_id, "consensus_params", 0)),
        "app_hash": hexu(stand_in(chain_id, "app", height - 1)),
        "last_results_hash": hexu(stand_in(chain_id, "results", height - 1)),
        "evidence_hash": hexu(merkle_root([])),
        "proposer_address": hexu(validator_address(record.proposer if record else 0)),
    }


def block(engine: Engine, height: int) -> dict[str, Any]:
    """`ResultBlock`: {block_id, block {header, data, evidence, last_commit}}. Commit
    signatures are not modelled (no consensus): `signatures` is empty."""
    prev = engine.block_hash(height - 1) if height > 1 else b""
    return {
        "block_id": block_id(engine.block_hash(height)),
        "block": {
            "header": header(engine, height),
            "data": {"txs": [b64(t.tx_bytes) for t in block_txs(engine, height)]},
            "evidence": {"evidence": []},
            "last_commit": {
                "height": str(height - 1),
                "round": 0,
                "block_id": block_id(prev),
                "signatures": [],
            },
        },
    }


def block_results(engine: Engine, height: int) -> dict[str, Any]:
    """`ResultBlockResults` (0.38: finalize_block_events instead of begin/end block events)."""
    return {
        "height": str(height),
        "txs_results": [exec_tx_result(t) for t in block_txs(engine, height)] or None,
        "finalize_block_events": [],
        "validator_updates": None,
        "consensus_param_updates": None,
        "app_hash": b64(stand_in(engine.state.chain_id, "app", height)),
    }


def tx_result(engine: Engine, ct: CommittedTx, *, prove: bool = False) -> dict[str, Any]:
    """`ResultTx` of a committed tx: its index is its position in the block (no omitempty: 0 is
    printed); ``proof`` (omitempty) only when asked for and the block is kept (`rpc/core/tx.go`)."""
    record = engine.blocks.get(ct.height)
    index = record.txs.index(ct.hash) if record is not None and ct.hash in record.txs else 0
    out: dict[str, Any] = {
        "hash": ct.hash,
        "height": str(ct.height),
        "index": index,
        "tx_result": exec_tx_result(ct),
        "tx": b64(ct.tx_bytes),
    }
    txs = [t.tx_bytes for t in block_txs(engine, ct.height)]
    if prove and index < len(txs):
        out["proof"] = tx_proof(txs, index)
    return out


def status(engine: Engine, index: int, *, listen_addr: str, rpc_address: str) -> dict[str, Any]:
    """`ResultStatus` of validator ``index`` (`rpc/core/status.go`)."""
    height = engine.state.height
    earliest = min(engine.block_times) if engine.block_times else 0
    chain_id = engine.state.chain_id

    def sync(h: int) -> tuple[str, str, str, str]:
        if not h:
            return "", "", "0", rfc3339(0)
        return (
            hexu(engine.block_hash(h)),
            hexu(stand_in(chain_id, "app", h - 1)),
            str(h),
            rfc3339(engine.block_times[h]),
        )

    latest_hash, latest_app, latest_h, latest_t = sync(height)
    early_hash, early_app, early_h, early_t = sync(earliest)
    return {
        "node_info": {
            "protocol_version": {
                "p2p": str(P2P_PROTOCOL),
                "block": str(BLOCK_PROTOCOL),
                "app": str(APP_PROTOCOL),
            },
            # p2p.ID: lower-case hex of the node key's address (a stand-in: the devnet has no
            # p2p layer).
            "id": hashlib.sha256(f"{chain_id}:node:{index}".encode()).hexdigest()[:40],
            "listen_addr": listen_addr,
            "network": chain_id,
            "version": COMETBFT_VERSION,
            "channels": CHANNELS,
            "moniker": f"dydx-devnet-{index}",
            "other": {"tx_index": "on", "rpc_address": rpc_address},
        },
        "sync_info": {
            "latest_block_hash": latest_hash,
            "latest_app_hash": latest_app,
            "latest_block_height": latest_h,
            "latest_block_time": latest_t,
            "earliest_block_hash": early_hash,
            "earliest_app_hash": early_app,
            "earliest_block_height": early_h,
            "earliest_block_time": early_t,
            "catching_up": False,
        },
        "validator_info": {
            "address": hexu(validator_address(index)),
            "pub_key": pub_key(index),
            "voting_power": str(VOTING_POWER),
        },
    }
