"""The service's one settings object, built once at startup (never at import time).

Environment variables carry the prefix ``DYDX_ROUTER_`` except ``DATABASE_URL``. Network presets
fill in chain id, denoms and default endpoints (PROTOCOL.md §9); any preset value can be overridden.
Every setting is documented in ``.env.example``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Network(StrEnum):
    DEVNET = "devnet"
    TESTNET = "testnet"
    MAINNET = "mainnet"


@dataclass(frozen=True, slots=True)
class NetworkPreset:
    chain_id: str
    # Gas token of the chain (PROTOCOL.md §9); clob txs pay no fee (§3d) but other txs would.
    chain_token_denom: str
    node_endpoints: tuple[str, ...]
    indexer_urls: tuple[str, ...]
    indexer_ws_urls: tuple[str, ...]


# USDC is the same IBC denom on every network (PROTOCOL.md §9, v4-client-js constants.ts).
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


StrList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DYDX_ROUTER_",
        env_file=None,
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
    )

    network: Network = Network.DEVNET
    # The trading key, from exactly one of: a BIP39 mnemonic, or the raw secp256k1 key in hex,
    # each directly or from a file (Docker/Kubernetes secrets). SecretStr keeps it out of
    # reprs, logs and tracebacks; the variables are removed from the environment once read.
    mnemonic: SecretStr | None = None
    mnemonic_file: Path | None = None
    private_key_hex: SecretStr | None = None
    private_key_hex_file: Path | None = None
    # Core dumps off (RLIMIT_CORE 0, PR_SET_DUMPABLE 0): a dump would hold the key.
    allow_core_dumps: bool = False

    database_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "DYDX_ROUTER_DATABASE_URL")
    )
    db_pool_min_size: int = Field(default=2, ge=1, le=100)
    db_pool_max_size: int = Field(default=16, ge=1, le=500)

    chain_id: str | None = None
    node_endpoints: StrList = Field(default_factory=list)
    indexer_urls: StrList = Field(default_factory=list)
    indexer_ws_urls: StrList = Field(default_factory=list)

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    log_format: str = Field(default="console", pattern="^(json|console)$")
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")

    subaccount_number: int = Field(default=0, ge=0, le=128_000)
    memo: str = Field(default="dydx-router", max_length=256)
    order_router_address: str | None = None
    # Blocks ahead of the latest height for short-term orders; the chain accepts at most 40
    # (ShortBlockWindow, protocol/x/clob/types/constants.go), so the offset must leave room.
    good_til_block_offset: int = Field(default=20, ge=2, le=40)
    default_slippage_bps: int = Field(default=100, ge=1, le=5000)
    default_good_til_seconds: int = Field(default=30 * 24 * 3600, ge=1, le=95 * 24 * 3600)
    node_timeout_s: Decimal = Field(default=Decimal("5"), gt=0, le=120)
    indexer_timeout_s: Decimal = Field(default=Decimal("5"), gt=0, le=120)
    # How often every non-final order is settled against the chain and the indexer.
    reconcile_interval_s: float = Field(default=2.0, gt=0, le=3600)

    # --- reliability (docs/reliability.md) ---
    # Deadline of one BroadcastTx attempt (NODE_TIMEOUT_S is that of one query attempt)...
    broadcast_timeout_s: float = Field(default=5.0, gt=0, le=120)
    # ...and the total time one call may take, retries with backoff and jitter included.
    chain_retry_budget_s: float = Field(default=6.0, gt=0, le=300)
    # Consecutive failures that open an endpoint's circuit breaker; the first cool-down before a
    # half-open probe, doubled after each failed probe up to the maximum.
    breaker_failure_threshold: int = Field(default=3, ge=1, le=1000)
    breaker_reset_timeout_s: float = Field(default=1.0, gt=0, le=600)
    breaker_max_reset_timeout_s: float = Field(default=15.0, gt=0, le=3600)
    # Background probes of every node and indexer endpoint (latency, height lag, half-open).
    health_check_interval_s: float = Field(default=0.5, gt=0, le=60)
    health_check_timeout_s: float = Field(default=1.0, gt=0, le=60)
    # An endpoint this many blocks behind the best one is used only when nothing fresher is up.
    max_endpoint_lag_blocks: int = Field(default=20, ge=1, le=100_000)
    # A stateful order CheckTx accepted but not seen in a block (GetTx) or on the indexer after
    # this long becomes UNKNOWN for the reconciler (never FAILED by guess).
    stateful_confirm_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    # Connect and pool-acquire timeout of PostgreSQL (503 database_unavailable past it); every
    # acquire from the pool waits at most this long.
    db_timeout_s: float = Field(default=5.0, gt=0, le=120)
    # Oracle prices older than this (the node or the price loop failing) are not used: market
    # orders and risk checks that need one answer 503 price_stale.
    oracle_max_age_s: float = Field(default=10.0, gt=0, le=3600)
    # On SIGTERM: how long in-flight requests (broadcasts and their DB writes) may take to finish.
    shutdown_grace_s: float = Field(default=30.0, ge=0, le=600)
    # Fault injection for the crash tests only (default 0: off): a placement waits this long
    # after its row and tx are stored and before it broadcasts, so that a kill -9 can land
    # exactly between the two (tests/integration/reliability/test_truth_recovery.py).
    fault_hold_before_broadcast_s: float = Field(default=0.0, ge=0, le=60)

    # --- observability (docs/observability.md) ---
    # /ready fails when the node's height has not advanced for this long...
    ready_max_block_age_s: float = Field(default=15.0, gt=0, le=3600)
    # ...or when the indexer trails the node by more than this many blocks.
    ready_max_indexer_lag_blocks: int = Field(default=10, ge=0, le=1_000_000)
    # ...or when the status stream settles events more than this many seconds after they
    # arrived (it has fallen behind: statuses are that far out of date).
    ready_max_stream_behind_s: float = Field(default=10.0, gt=0, le=3600)
    # OTLP/gRPC collector for traces (e.g. http://127.0.0.1:4317); unset: tracing is off.
    otlp_endpoint: str | None = None
    otel_service_name: str = Field(default="dydx-router", min_length=1, max_length=100)
    # Share of traces kept (a caller's sampled traceparent is always followed).
    trace_sample_ratio: float = Field(default=1.0, ge=0, le=1)
    # One log line per HTTP request (probes and /metrics only at DEBUG).
    access_log: bool = True

    # --- security and pre-trade risk (docs/security.md) ---
    # Per API key token buckets: requests per second and burst, per route class (= scope).
    rate_limit_read_per_s: float = Field(default=1000, gt=0, le=1_000_000)
    rate_limit_read_burst: int = Field(default=2000, ge=1, le=1_000_000)
    rate_limit_trade_per_s: float = Field(default=1000, gt=0, le=1_000_000)
    rate_limit_trade_burst: int = Field(default=2000, ge=1, le=1_000_000)
    rate_limit_admin_per_s: float = Field(default=5, gt=0, le=1_000_000)
    rate_limit_admin_burst: int = Field(default=20, ge=1, le=1_000_000)
    # Requests with an invalid key, per client address (per second and burst).
    auth_failures_per_s: float = Field(default=10, gt=0, le=1_000_000)
    auth_failures_burst: int = Field(default=100, ge=1, le=1_000_000)
    # HTTP hardening: /docs, /redoc and /openapi.json on or off; the HSTS max-age sent on
    # requests that came over TLS (0: none); at most this many connections and requests at
    # once (uvicorn answers 503 past it); proxies whose X-Forwarded-For/-Proto are believed
    # (uvicorn's forwarded_allow_ips: addresses or CIDRs, comma-separated; empty: none, the
    # peer's address is the client's).
    api_docs: bool = True
    hsts_max_age_s: int = Field(default=31_536_000, ge=0, le=10 * 31_536_000)
    max_concurrency: int = Field(default=2048, ge=16, le=1_000_000)
    forwarded_allow_ips: StrList = Field(default_factory=list)
    # Largest request body accepted (413 payload_too_large above).
    max_body_bytes: int = Field(default=65_536, ge=1024, le=16 * 1024 * 1024)
    # Share of the chain's per-account block rate limits this replica may use (1/N for N).
    chain_rate_limit_share: float = Field(default=1.0, gt=0, le=1)
    # Extra blocks in the window, for the moment the router's height trails the chain's.
    chain_rate_limit_slack_blocks: int = Field(default=1, ge=0, le=100)
    # How long an order may wait for the chain's rate window before a 429 chain_rate_limited.
    chain_rate_limit_max_wait_s: float = Field(default=1.0, ge=0, le=60)
    # Backstop poll of the risk limits and trading state (changes are also pushed by NOTIFY).
    risk_refresh_s: float = Field(default=1.0, gt=0, le=60)
    # Refresh of positions and open orders for the position/open-order limits, and the age past
    # which the order path reloads them itself (failing closed if it cannot).
    exposure_refresh_s: float = Field(default=1.0, gt=0, le=60)
    exposure_max_age_s: float = Field(default=10.0, gt=0, le=600)
    # Safe defaults under the stored risk limits (0: no default). A limit set by an admin
    # (PUT /v1/admin/risk-limits/...) replaces its default, wider or narrower.
    default_price_band_bps: int = Field(default=1000, ge=0, le=10_000)
    default_max_slippage_bps: int = Field(default=500, ge=0, le=10_000)
    default_max_order_notional: Decimal = Field(default=Decimal(100_000), ge=0, le=10**12)
    # Trade only reduce-only orders until an admin has set the global risk limits explicitly.
    # Unset: on for testnet and mainnet, off for the devnet.
    require_risk_limits: bool | None = None

    @field_validator(
        "node_endpoints", "indexer_urls", "indexer_ws_urls", "forwarded_allow_ips", mode="before"
    )
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("node_endpoints")
    @classmethod
    def _node_endpoints(cls, value: list[str]) -> list[str]:
        return [str(NodeEndpoint.parse(v)) for v in value]

    @field_validator("indexer_urls")
    @classmethod
    def _indexer_urls(cls, value: list[str]) -> list[str]:
        return _check_http_urls(value, {"http", "https"}, "indexer URL")

    @field_validator("indexer_ws_urls")
    @classmethod
    def _indexer_ws_urls(cls, value: list[str]) -> list[str]:
        return _check_http_urls(value, {"ws", "wss"}, "indexer websocket URL")

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _forwarded_allow_ips(cls, value: list[str]) -> list[str]:
        import ipaddress

        for item in value:
            if item == "*":
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or network: {item!r}") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        scheme = urlsplit(value.get_secret_value()).scheme
        if scheme not in {"postgres", "postgresql", "postgresql+asyncpg"}:
            raise ValueError("must be a postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _pool(self) -> Settings:
        if self.db_pool_min_size > self.db_pool_max_size:
            raise ValueError("DYDX_ROUTER_DB_POOL_MIN_SIZE exceeds DYDX_ROUTER_DB_POOL_MAX_SIZE")
        return self

    # --- derived values (presets filled in) -------------------------------------------------
    @property
    def preset(self) -> NetworkPreset:
        return PRESETS[self.network]

    @property
    def effective_chain_id(self) -> str:
        return self.chain_id or self.preset.chain_id

    @property
    def nodes(self) -> list[NodeEndpoint]:
        raw = self.node_endpoints or list(self.preset.node_endpoints)
        return [NodeEndpoint.parse(v) for v in raw]

    @property
    def indexers(self) -> list[str]:
        return list(self.indexer_urls or self.preset.indexer_urls)

    @property
    def indexer_websockets(self) -> list[str]:
        return list(self.indexer_ws_urls or self.preset.indexer_ws_urls)

    @property
    def risk_limits_required(self) -> bool:
        if self.require_risk_limits is not None:
            return self.require_risk_limits
        return self.network is not Network.DEVNET

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise ConfigError("DATABASE_URL: required (postgresql://user@host:port/db)")
        return self.database_url.get_secret_value()

    def require_mnemonic(self) -> SecretStr:
        kind, secret = self.trading_key()
        if kind != "mnemonic":
            raise ConfigError("DYDX_ROUTER_MNEMONIC: required (the trading key's BIP39 mnemonic)")
        return secret

    def trading_key(self) -> tuple[str, SecretStr]:
        """(``mnemonic`` | ``private_key_hex``, the secret) from the one source that is set."""
        from dydx_router.custody import trading_key

        return trading_key(self)


class ConfigError(Exception):
    """A wrong or missing setting; the message is one line naming the setting, never its value."""


_ENV_NAMES = {"database_url": "DATABASE_URL"}


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment, turning validation failures into one clear line."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = str(first["loc"][0]).lower() if first["loc"] else ""
        name = _ENV_NAMES.get(loc, "DYDX_ROUTER_" + loc.upper()) if loc else "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{name}: {message}") from None
    # Read once: the key no longer sits in the environment (child processes, /proc/PID/environ
    # of anything exec'd later, crash reporters that dump it).
    from dydx_router.custody import scrub_environment

    scrub_environment()
    return settings
