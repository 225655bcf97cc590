"""scripts/upstream_fixtures.py: what it extracts from the upstream files, and that it is
deterministic (the committed fixtures in tests/fixtures/data/ are its output)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "fixtures" / "data"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "upstream_fixtures", ROOT / "scripts" / "upstream_fixtures.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


uf = _load()

ERRORS_GO = b"""package types

var (
\tErrMemClobOrderDoesNotExist = errorsmod.Register(
\t\tModuleName,
\t\t2,
\t\t"Order does not exist in memclob",
\t)
\tErrInvalidOrderQuantums     = errorsmod.Register(ModuleName, 4, "Invalid order quantums")
\tErrFillAmountNotDivisibleByStepSize = errorsmod.Register(
\t\tModuleName,
\t\t3,
\t\t"`FillAmount` is not divisible by " +
\t\t\t"`StepBaseQuantums` of \\"the\\" pair",
\t)
)
"""


def test_clob_errors_reads_every_registration_sorted_by_code() -> None:
    out = uf.clob_errors(ERRORS_GO)
    assert out["codespace"] == "clob"
    assert out["source"]["repository"] == "github.com/dydxprotocol/v4-chain"
    assert out["source"]["path"] == "protocol/x/clob/types/errors.go"
    assert [(e["code"], e["name"]) for e in out["errors"]] == [
        (2, "ErrMemClobOrderDoesNotExist"),
        (3, "ErrFillAmountNotDivisibleByStepSize"),
        (4, "ErrInvalidOrderQuantums"),
    ]
    assert out["errors"][1]["message"] == (
        '`FillAmount` is not divisible by `StepBaseQuantums` of "the" pair'
    )


def test_a_registration_it_cannot_read_stops_it() -> None:
    odd = ERRORS_GO.replace(b"ModuleName, 4,", b"ModuleName, codeFour,")
    with pytest.raises(SystemExit, match="parsed 2 of 3"):
        uf.clob_errors(odd)


def _swagger() -> dict[str, Any]:
    def ok(schema: dict[str, Any]) -> dict[str, Any]:
        content = {"application/json": {"schema": schema}}
        return {"get": {"operationId": "x", "responses": {"200": {"content": content}}}}

    paths = {p: ok({"$ref": "#/components/schemas/A"}) for p in uf.PATHS}
    paths["/unused"] = ok({"$ref": "#/components/schemas/Unused"})
    schemas = {
        "A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}}},
        "B": {"type": "array", "items": {"$ref": "#/components/schemas/C"}},
        "C": {"type": "string"},
        "Unused": {"type": "string"},
        **{name: {"type": "object"} for name in uf.COMPONENTS},
    }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Indexer API"},
        "paths": paths,
        "components": {"schemas": schemas, "examples": {"big": {}}},
    }


def test_the_swagger_keeps_the_routes_and_the_schemas_they_reach() -> None:
    out = uf.indexer_swagger(json.dumps(_swagger()).encode())
    assert list(out["paths"]) == list(uf.PATHS)
    assert set(out["components"]) == {"schemas"}
    assert set(out["components"]["schemas"]) == {"A", "B", "C", *uf.COMPONENTS}
    first = out["paths"][uf.PATHS[0]]["get"]
    assert set(first) == {"responses"}  # operation ids, parameters, security: dropped


def test_markets_join_each_clob_pair_to_its_perpetual() -> None:
    genesis = {
        "chain_id": "dydx-mainnet-1",
        "genesis_time": "2023-10-26T17:00:00Z",
        "app_state": {
            "clob": {
                "clob_pairs": [
                    {
                        "id": 1,
                        "status": "STATUS_INITIALIZING",
                        "perpetual_clob_metadata": {"perpetual_id": 7},
                        "step_base_quantums": 1000000,
                        "subticks_per_tick": 100000,
                        "quantum_conversion_exponent": -9,
                    },
                    {
                        "id": 0,
                        "status": "STATUS_ACTIVE",
                        "perpetual_clob_metadata": {"perpetual_id": 3},
                        "step_base_quantums": 10,
                        "subticks_per_tick": 20,
                        "quantum_conversion_exponent": -8,
                    },
                ]
            },
            "perpetuals": {
                "perpetuals": [
                    {"params": {"id": 3, "ticker": "BTC-USD", "atomic_resolution": -10}},
                    {"params": {"id": 7, "ticker": "ETH-USD", "atomic_resolution": -9}},
                ]
            },
        },
    }
    out = uf.mainnet_markets(json.dumps(genesis).encode())
    assert out["chain_id"] == "dydx-mainnet-1"
    assert out["source"]["path"] == "dydx-mainnet-1/genesis.json"
    assert [(m["clob_pair_id"], m["ticker"], m["atomic_resolution"]) for m in out["markets"]] == [
        (0, "BTC-USD", -10),
        (1, "ETH-USD", -9),
    ]


def test_the_output_is_deterministic_and_check_finds_a_stale_file(tmp_path: Path) -> None:
    errors_go = tmp_path / "errors.go"
    errors_go.write_bytes(ERRORS_GO)
    swagger = tmp_path / "swagger.json"
    swagger.write_text(json.dumps(_swagger()))
    genesis = tmp_path / "genesis.json"
    genesis.write_text(
        json.dumps(
            {
                "chain_id": "c",
                "genesis_time": "t",
                "app_state": {"clob": {"clob_pairs": []}, "perpetuals": {"perpetuals": []}},
            }
        )
    )
    out = tmp_path / "out"
    args = [
        f"--errors-go-file={errors_go}",
        f"--swagger-file={swagger}",
        f"--genesis-file={genesis}",
        f"--out={out}",
    ]
    assert uf.main(args) == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert uf.main(args) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    assert uf.main([*args, "--check"]) == 0
    (out / "clob_errors.json").write_text("{}\n")
    assert uf.main([*args, "--check"]) == 1


def test_the_committed_fixtures_name_their_upstream_source() -> None:
    sources = {
        "clob_errors.json": ("dydxprotocol/v4-chain", "protocol/x/clob/types/errors.go"),
        "mainnet_markets.json": ("dydxopsdao/networks", "dydx-mainnet-1/genesis.json"),
    }
    for name, (repo, path) in sources.items():
        source = json.loads((DATA / name).read_text())["source"]
        assert source["repository"].endswith(repo) and source["path"] == path
    swagger = json.loads((DATA / "indexer_swagger.json").read_text())
    assert swagger["x-source"]["path"] == "indexer/services/comlink/public/swagger.json"
    assert set(swagger["paths"]) == set(uf.PATHS)
