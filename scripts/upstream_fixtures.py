"""Write the chain facts the tests need into tests/fixtures/data/, from the upstream sources.

    python scripts/upstream_fixtures.py --v4-chain ~/src/v4-chain --networks ~/src/networks
    python scripts/upstream_fixtures.py --v4-chain ... --networks ... --check   # exit 1 if stale

Inputs (checkouts of the public repositories, or single files with the --*-file options):

* ``github.com/dydxprotocol/v4-chain``
  - ``protocol/x/clob/types/errors.go``: the clob module's registered errors (code, name,
    message) -> ``clob_errors.json``;
  - ``indexer/services/comlink/public/swagger.json``: the indexer's OpenAPI spec ->
    ``indexer_swagger.json``, trimmed to the 200 response schemas of the routes the devnet serves
    and the router reads (``PATHS``) and the component schemas they reach.
* ``github.com/dydxopsdao/networks``
  - ``dydx-mainnet-1/genesis.json``: the original mainnet genesis (2023-10-26) ->
    ``mainnet_markets.json``, the quantization parameters of every genesis clob pair joined to
    its perpetual. Governance may have changed some since; the tests use them as a wide, real
    set of parameters, not as today's mainnet.

The output is deterministic: the same inputs give byte-identical files (sorted, fixed indent,
with the input file's SHA-256 recorded), so ``--check`` can tell a stale fixture.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "data"

V4_CHAIN = "github.com/dydxprotocol/v4-chain"
NETWORKS = "github.com/dydxopsdao/networks"
ERRORS_GO = "protocol/x/clob/types/errors.go"
SWAGGER = "indexer/services/comlink/public/swagger.json"
GENESIS = "dydx-mainnet-1/genesis.json"

# The indexer routes (GET, without /v4) whose answers the tests validate: those the devnet serves
# (src/dydx_devnet/indexer/rest.py), a superset of those the router reads (chain/indexer.py).
PATHS = (
    "/addresses/{address}",
    "/addresses/{address}/subaccountNumber/{subaccountNumber}",
    "/assetPositions",
    "/fills",
    "/height",
    "/historical-pnl",
    "/orderbooks/perpetualMarket/{ticker}",
    "/orders",
    "/orders/{orderId}",
    "/perpetualMarkets",
    "/perpetualPositions",
    "/time",
    "/transfers",
)
# Components validated on their own (websocket payloads reuse them); kept even if unreachable.
COMPONENTS = ("OrderResponseObject", "PerpetualPositionResponseObject", "SubaccountResponseObject")

_REGISTER = re.compile(
    r"(?P<name>\w+)\s*=\s*errorsmod\.Register\(\s*ModuleName\s*,\s*(?P<code>\d+)\s*,"
    r"(?P<message>(?:\s*\"(?:[^\"\\]|\\.)*\"\s*\+?)+)\s*,?\s*\)",
)
_GO_STRING = re.compile(r"\"((?:[^\"\\]|\\.)*)\"")


def _source(repo: str, path: str, data: bytes) -> dict[str, str]:
    return {"repository": repo, "path": path, "sha256": hashlib.sha256(data).hexdigest()}


def clob_errors(errors_go: bytes) -> dict[str, Any]:
    """Every ``errorsmod.Register(ModuleName, code, "message")`` of the clob module."""
    text = errors_go.decode()
    errors = []
    for m in _REGISTER.finditer(text):
        # Go interpreted string literals use JSON-compatible escapes for what errors.go contains.
        message = "".join(json.loads(f'"{s}"') for s in _GO_STRING.findall(m["message"]))
        errors.append({"code": int(m["code"]), "name": m["name"], "message": message})
    declared = len(re.findall(r"errorsmod\.Register\(", text))
    if len(errors) != declared:
        raise SystemExit(f"{ERRORS_GO}: parsed {len(errors)} of {declared} Register calls")
    codes = [e["code"] for e in errors]
    if len(set(codes)) != len(codes):
        raise SystemExit(f"{ERRORS_GO}: duplicate codes")
    return {
        "source": _source(V4_CHAIN, ERRORS_GO, errors_go),
        "codespace": "clob",
        "errors": sorted(errors, key=lambda e: e["code"]),
    }


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref.removeprefix("#/components/schemas/")
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def indexer_swagger(swagger_json: bytes) -> dict[str, Any]:
    """The spec trimmed to ``PATHS``' 200 JSON schemas and the component schemas they reach."""
    spec = json.loads(swagger_json)
    schemas = spec["components"]["schemas"]
    paths: dict[str, Any] = {}
    for path in PATHS:
        response = spec["paths"][path]["get"]["responses"]["200"]
        schema = response["content"]["application/json"]["schema"]
        paths[path] = {
            "get": {"responses": {"200": {"content": {"application/json": {"schema": schema}}}}}
        }
    keep: set[str] = set()
    todo = [*_refs(paths), *COMPONENTS]
    while todo:
        name = todo.pop()
        if name not in keep:
            keep.add(name)
            todo.extend(_refs(schemas[name]))
    return {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "x-source": _source(V4_CHAIN, SWAGGER, swagger_json),
        "paths": paths,
        "components": {"schemas": {name: schemas[name] for name in sorted(keep)}},
    }


def mainnet_markets(genesis_json: bytes) -> dict[str, Any]:
    """Each genesis clob pair with its perpetual's ticker and atomic resolution."""
    genesis = json.loads(genesis_json)
    app = genesis["app_state"]
    perps = {p["params"]["id"]: p["params"] for p in app["perpetuals"]["perpetuals"]}
    markets = []
    for pair in app["clob"]["clob_pairs"]:
        perp = perps[pair["perpetual_clob_metadata"]["perpetual_id"]]
        markets.append(
            {
                "ticker": perp["ticker"],
                "clob_pair_id": pair["id"],
                "perpetual_id": perp["id"],
                "atomic_resolution": perp["atomic_resolution"],
                "quantum_conversion_exponent": pair["quantum_conversion_exponent"],
                "step_base_quantums": pair["step_base_quantums"],
                "subticks_per_tick": pair["subticks_per_tick"],
                "status": pair["status"],
            }
        )
    return {
        "source": _source(NETWORKS, GENESIS, genesis_json),
        "chain_id": genesis["chain_id"],
        "genesis_time": genesis["genesis_time"],
        "markets": sorted(markets, key=lambda m: m["clob_pair_id"]),
    }


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def _input(explicit: Path | None, checkout: Path | None, rel: str, option: str) -> bytes:
    path = explicit or (checkout / rel if checkout else None)
    if path is None:
        raise SystemExit(f"{rel}: give {option} or the checkout that holds it")
    return path.read_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--v4-chain", type=Path, help=f"checkout of {V4_CHAIN}")
    parser.add_argument("--networks", type=Path, help=f"checkout of {NETWORKS}")
    parser.add_argument("--errors-go-file", type=Path, help=f"{ERRORS_GO} of {V4_CHAIN}")
    parser.add_argument("--swagger-file", type=Path, help=f"{SWAGGER} of {V4_CHAIN}")
    parser.add_argument("--genesis-file", type=Path, help=f"{GENESIS} of {NETWORKS}")
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (%(default)s)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a fixture differs")
    args = parser.parse_args(argv)

    outputs = {
        "clob_errors.json": clob_errors(
            _input(args.errors_go_file, args.v4_chain, ERRORS_GO, "--errors-go-file")
        ),
        "indexer_swagger.json": indexer_swagger(
            _input(args.swagger_file, args.v4_chain, SWAGGER, "--swagger-file")
        ),
        "mainnet_markets.json": mainnet_markets(
            _input(args.genesis_file, args.networks, GENESIS, "--genesis-file")
        ),
    }
    stale = []
    for name, data in outputs.items():
        target = args.out / name
        text = render(data)
        if args.check:
            if not target.exists() or target.read_text() != text:
                stale.append(name)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            print(f"wrote {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
    if stale:
        print("stale: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
