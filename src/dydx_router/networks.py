"""dYdX networks: presets of chain id, denoms and public endpoints (dydxprotocol/v4-clients
``v4-client-js/src/clients/constants.ts``, ``v4-client-py-v2/dydx_v4_client/network.py``), and the
parsing of endpoint settings. ``config.Settings`` fills its defaults from here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit


class Network(StrEnum):
    DEVNET = "devnet"
    TESTNET = "testnet"
    MAINNET = "mainnet"


@dataclass(frozen=True, slots=True)
class NetworkPreset:
    chain_id: str
    # Gas token of the chain; clob txs pay no fee (v4-chain protocol/app/ante.go clobAnteHandle) but
    # other txs would.
    chain_token_denom: str
    node_endpoints: tuple[str, ...]
    indexer_urls: tuple[str, ...]
    indexer_ws_urls: tuple[str, ...]


# USDC is the same IBC denom on every network (v4-client-js src/clients/constants.ts).
USDC_DENOM = "ibc/8E27BA2D5493AF5636760E354E46004562C46AB7EC0CC4C1CA14E9E20E2545B5"

PRESETS: dict[Network, NetworkPreset] = {
    Network.DEVNET: NetworkPreset(
        chain_id="localdydxprotocol",
        chain_token_denom="adv4tnt",
        node_endpoints=("127.0.0.1:9090",),
        indexer_urls=("http://127.0.0.1:3002",),
        indexer_ws_urls=("ws://127.0.0.1:3003/v4/ws",),
    ),
    Network.TESTNET: NetworkPreset(
        chain_id="dydx-testnet-4",
        chain_token_denom="adv4tnt",
        node_endpoints=("grpcs://test-dydx-grpc.kingnodes.com:443",),
        indexer_urls=("https://indexer.v4testnet.dydx.exchange",),
        indexer_ws_urls=("wss://indexer.v4testnet.dydx.exchange/v4/ws",),
    ),
    Network.MAINNET: NetworkPreset(
        chain_id="dydx-mainnet-1",
        chain_token_denom="adydx",
        node_endpoints=("grpcs://dydx-ops-grpc.kingnodes.com:443",),
        indexer_urls=("https://indexer.dydx.trade",),
        indexer_ws_urls=("wss://indexer.dydx.trade/v4/ws",),
    ),
}


@dataclass(frozen=True, slots=True)
class NodeEndpoint:
    """A validator gRPC endpoint: ``host:port`` (plaintext) or ``grpcs://host:port`` (TLS)."""

    host: str
    port: int
    tls: bool

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{'grpcs' if self.tls else 'grpc'}://{self.target}"

    @classmethod
    def parse(cls, raw: str) -> NodeEndpoint:
        text = raw.strip()
        if "://" not in text:
            text = "grpc://" + text
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme not in {"grpc", "grpcs", "http", "https"}:
            raise ValueError(f"invalid node endpoint {raw!r}: scheme must be grpc:// or grpcs://")
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None or parts.path not in {"", "/"}:
            raise ValueError(
                f"invalid node endpoint {raw!r}: expected host:port or grpcs://host:port"
            )
        return cls(host=parts.hostname, port=port, tls=scheme in {"grpcs", "https"})


def _split_list(value: Any) -> Any:
    """Lists come from the environment as comma-separated text (or a JSON array)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


def _check_http_urls(urls: list[str], schemes: set[str], name: str) -> list[str]:
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in schemes or not parts.hostname:
            allowed = " or ".join(sorted(s + "://" for s in schemes))
            raise ValueError(f"invalid {name} {url!r}: expected an absolute {allowed} URL")
    return [u.rstrip("/") for u in urls]
