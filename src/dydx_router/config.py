"""The service's one settings object, built once at startup (never at import time).

Environment variables carry the prefix ``DYDX_ROUTER_`` except ``DATABASE_URL``. Network presets
fill in chain id, denoms and default endpoints (see ``networks.py``); any preset value can be
overridden.
Every setting is documented in ``docs/configuration.md`` and ``.env.example`` (both generated).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import NoDecode, SettingsConfigDict

from dydx_router.config_replicas import ReplicaSettings

# Re-exported: callers import these from config.
from dydx_router.domain.windows import SHORT_BLOCK_WINDOW
from dydx_router.networks import (
    PRESETS,
    USDC_DENOM,
    Network,
    NetworkPreset,
    NodeEndpoint,
    _check_http_urls,
    _split_list,
)

__all__ = [
    "PRESETS",
    "USDC_DENOM",
    "ConfigError",
    "Network",
    "NetworkPreset",
    "NodeEndpoint",
    "Settings",
    "load_settings",
]

StrList = Annotated[list[str], NoDecode]
# The steps of service/faults.py Step (config stays free of service imports).
FaultStep = Literal[
    "before_row",
    "before_broadcast",
    "after_broadcast",
    "before_cancel_broadcast",
    "after_cancel_broadcast",
]


class Settings(ReplicaSettings):
    model_config = SettingsConfigDict(
        env_prefix="DYDX_ROUTER_",
        env_file=None,
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
        use_attribute_docstrings=True,
    )

    # Every field's docstring is its description (use_attribute_docstrings): docs/configuration.md
    # and .env.example are generated from them (scripts/gen_docs.py; `make docs`).
    network: Network = Network.DEVNET
    """The dYdX network; its preset fills in the chain id and default endpoints."""
    mnemonic: SecretStr | None = None
    """The trading key as a BIP39 mnemonic (m/44'/118'/0'/0/0, prefix dydx). Exactly one key
    source may be set; SecretStr keeps it out of reprs and logs, and the variable is removed
    from the environment once read."""
    mnemonic_file: Path | None = None
    """A file holding the mnemonic (Docker/Kubernetes secrets: prefer the _FILE forms)."""
    private_key_hex: SecretStr | None = None
    """The raw secp256k1 trading key as 64 hex digits (dYdX's "export API trading key")."""
    private_key_hex_file: Path | None = None
    """A file holding the raw private key in hex."""
    allow_core_dumps: bool = False
    """Allow core dumps; off by default (RLIMIT_CORE 0, PR_SET_DUMPABLE 0): a dump would hold
    the key."""

    database_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "DYDX_ROUTER_DATABASE_URL")
    )
    """PostgreSQL URL (postgresql://user:password@host:5432/db); sslmode=require|verify-full is
    honoured. Several hosts, libpq style (postgresql://u:p@db1:5432,db2:5432/db), for a database
    that fails over: connections go to the one that takes writes (target_session_attrs
    read-write by default). Required by `serve`, `migrate` and `doctor`."""
    db_pool_min_size: int = Field(default=2, ge=1, le=100)
    """Connections the pool keeps open."""
    db_pool_max_size: int = Field(default=16, ge=1, le=500)
    """Most connections the pool opens (at least DB_POOL_MIN_SIZE)."""

    chain_id: str | None = None
    """Override of the preset's chain id (rarely needed)."""
    node_endpoints: StrList = Field(default_factory=list)
    """Validator gRPC endpoints in order of preference (failover): host:port is plaintext,
    grpcs://host:port is TLS. Comma-separated or a JSON array; empty: the preset's."""
    indexer_urls: StrList = Field(default_factory=list)
    """Indexer REST base URLs (without /v4), in order of preference; empty: the preset's."""
    indexer_ws_urls: StrList = Field(default_factory=list)
    """Indexer websocket URLs (…/v4/ws), in order of preference; empty: the preset's."""

    host: str = "127.0.0.1"
    """Address the HTTP API binds to (0.0.0.0 in a container)."""
    port: int = Field(default=8080, ge=0, le=65535)
    """Port of the HTTP API (0: any free port)."""
    log_format: str = Field(default="console", pattern="^(json|console)$")
    """json (production) or console (development)."""
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    """Lowest level logged."""

    subaccount_number: int = Field(default=0, ge=0, le=128_000)
    """Default subaccount of orders."""
    memo: str = Field(default="dydx-router", max_length=256)
    """Memo of every transaction the router signs."""
    order_router_address: str | None = None
    """dYdX order-router revenue-share address put in each order (unset: none)."""
    owner_address: str | None = Field(default=None, pattern=r"^dydx1[02-9ac-hj-np-z]{38,58}$")
    """A permissioned trading key (x/accountplus, docs/permissioned-keys.md): the account traded
    for. With AUTHENTICATOR_ID; the key settings then hold the trading key, never the owner's."""
    authenticator_id: int | None = Field(default=None, ge=0)
    """The owner's authenticator that lets the trading key sign (`dydx-router keys grant`)."""
    good_til_block_offset: int = Field(default=20, ge=2, le=SHORT_BLOCK_WINDOW)
    """Blocks ahead of the latest height for short-term orders; the chain accepts at most 40
    (ShortBlockWindow, protocol/x/clob/types/constants.go), so the offset must leave room."""
    default_slippage_bps: int = Field(default=100, ge=1, le=5000)
    """Slippage a market order's worst price allows when the request gives none."""
    default_good_til_seconds: int = Field(default=30 * 24 * 3600, ge=1, le=95 * 24 * 3600)
    """Lifetime of a long-term order when the request gives none (the chain allows 95 days)."""
    node_timeout_s: Decimal = Field(default=Decimal("5"), gt=0, le=120)
    """Deadline of one node query attempt."""
    indexer_timeout_s: Decimal = Field(default=Decimal("5"), gt=0, le=120)
    """Deadline of one indexer request attempt."""
    reconcile_interval_s: float = Field(default=2.0, gt=0, le=3600)
    """How often every non-final order is settled against the chain and the indexer."""

    # --- reliability (docs/reliability.md) ---
    broadcast_timeout_s: float = Field(default=5.0, gt=0, le=120)
    """Deadline of one BroadcastTx attempt."""
    chain_retry_budget_s: float = Field(default=6.0, gt=0, le=300)
    """Total time one chain call may take, retries with backoff and jitter included."""
    breaker_failure_threshold: int = Field(default=3, ge=1, le=1000)
    """Consecutive failures that open an endpoint's circuit breaker."""
    breaker_reset_timeout_s: float = Field(default=1.0, gt=0, le=600)
    """First cool-down of an open breaker before a half-open probe (doubled after each failed
    probe)."""
    breaker_max_reset_timeout_s: float = Field(default=15.0, gt=0, le=3600)
    """Longest cool-down of an open breaker."""
    health_check_interval_s: float = Field(default=0.5, gt=0, le=60)
    """Interval of the background probes of every node and indexer endpoint."""
    health_check_timeout_s: float = Field(default=1.0, gt=0, le=60)
    """Deadline of one background probe."""
    max_endpoint_lag_blocks: int = Field(default=20, ge=1, le=100_000)
    """An endpoint this many blocks behind the best one is used only when nothing fresher is
    up."""
    stateful_confirm_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    """A stateful order accepted by CheckTx but not seen in a block or on the indexer after
    this long becomes UNKNOWN for the reconciler (never FAILED by guess)."""
    db_timeout_s: float = Field(default=5.0, gt=0, le=120)
    """Connect and pool-acquire timeout of PostgreSQL (503 database_unavailable past it)."""
    oracle_max_age_s: float = Field(default=10.0, gt=0, le=3600)
    """Oracle prices older than this are not used: orders that need one answer 503
    price_stale."""
    shutdown_grace_s: float = Field(default=30.0, ge=0, le=600)
    """On SIGTERM: how long in-flight requests (broadcasts and their DB writes) may take to
    finish. A container's stop grace period must exceed it."""
    fault_hold_before_broadcast_s: float = Field(default=0.0, ge=0, le=60)
    """Crash tests only (0: off): a placement waits this long between storing its tx and
    broadcasting it, so that a kill -9 can land between the two."""
    fault_holds: dict[FaultStep, Annotated[float, Field(ge=0, le=60)]] = Field(default_factory=dict)
    """Crash tests only (default {}: off): JSON of step -> seconds, e.g. '{"after_broadcast": 30}';
    a placement or cancel waits that long at the step (before_row, before_broadcast,
    after_broadcast, before_cancel_broadcast, after_cancel_broadcast; service/faults.py), so
    that a kill -9 lands exactly there."""

    # --- observability (docs/observability.md) ---
    ready_max_block_age_s: float = Field(default=15.0, gt=0, le=3600)
    """/ready fails when the node's height has not advanced for this long."""
    ready_max_indexer_lag_blocks: int = Field(default=10, ge=0, le=1_000_000)
    """/ready fails when the indexer trails the node by more than this many blocks."""
    ready_max_stream_behind_s: float = Field(default=10.0, gt=0, le=3600)
    """/ready fails when the status stream settles events more than this long after they
    arrived."""
    otlp_endpoint: str | None = None
    """OTLP/gRPC collector for traces (e.g. http://127.0.0.1:4317); unset: tracing is off."""
    otel_service_name: str = Field(default="dydx-router", min_length=1, max_length=100)
    """service.name of the exported traces."""
    trace_sample_ratio: float = Field(default=1.0, ge=0, le=1)
    """Share of traces kept (a caller's sampled traceparent is always followed)."""
    access_log: bool = True
    """One log line per HTTP request (probes and /metrics only at DEBUG)."""

    # --- security and pre-trade risk (docs/security.md) ---
    rate_limit_read_per_s: float = Field(default=1000, gt=0, le=1_000_000)
    """Requests per second per API key on read routes (token bucket)."""
    rate_limit_read_burst: int = Field(default=2000, ge=1, le=1_000_000)
    """Burst per API key on read routes."""
    rate_limit_trade_per_s: float = Field(default=1000, gt=0, le=1_000_000)
    """Requests per second per API key on trade routes."""
    rate_limit_trade_burst: int = Field(default=2000, ge=1, le=1_000_000)
    """Burst per API key on trade routes."""
    rate_limit_admin_per_s: float = Field(default=5, gt=0, le=1_000_000)
    """Requests per second per API key on admin routes."""
    rate_limit_admin_burst: int = Field(default=20, ge=1, le=1_000_000)
    """Burst per API key on admin routes."""
    auth_failures_per_s: float = Field(default=10, gt=0, le=1_000_000)
    """Requests with an invalid API key allowed per client address per second."""
    auth_failures_burst: int = Field(default=100, ge=1, le=1_000_000)
    """Burst of requests with an invalid API key per client address."""
    api_docs: bool = True
    """Serve /docs, /redoc and /openapi.json."""
    hsts_max_age_s: int = Field(default=31_536_000, ge=0, le=10 * 31_536_000)
    """HSTS max-age sent on requests that came over TLS (0: no header)."""
    max_concurrency: int = Field(default=2048, ge=16, le=1_000_000)
    """Most connections and requests at once; uvicorn answers 503 past it."""
    keep_alive_s: int = Field(default=30, ge=1, le=3600)
    """How long an idle keep-alive connection stays open. Longer than clients keep theirs
    (httpx: 5 s, aiohttp: 15 s), so that the server never closes a connection a client is
    sending its next request on (uvicorn's 5 s equalled httpx's and raced it); a load balancer
    in front must time idle connections out before this."""
    forwarded_allow_ips: StrList = Field(default_factory=list)
    """Proxies whose X-Forwarded-For/-Proto are believed (addresses or CIDRs, comma-separated;
    empty: none, the peer's address is the client's)."""
    max_body_bytes: int = Field(default=65_536, ge=1024, le=16 * 1024 * 1024)
    """Largest request body accepted (413 payload_too_large above)."""
    chain_rate_limit_share: float = Field(default=1.0, gt=0, le=1)
    """Share of the chain's per-account block rate limits the router may use (the count is
    shared by every replica through PostgreSQL)."""
    chain_rate_limit_slack_blocks: int = Field(default=1, ge=0, le=100)
    """Extra blocks in the rate window, for when the router's height trails the chain's."""
    chain_rate_limit_max_wait_s: float = Field(default=1.0, ge=0, le=60)
    """How long an order may wait for the chain's rate window before 429
    chain_rate_limited."""
    risk_refresh_s: float = Field(default=1.0, gt=0, le=60)
    """Backstop poll of the risk limits, the API keys' agent limits and the trading state
    (changes are also pushed by NOTIFY)."""
    exposure_refresh_s: float = Field(default=1.0, gt=0, le=60)
    """Refresh of positions and open orders for the position and open-order limits; also the
    longest a key's agent usage (today's notional, open orders) is trusted before it is read
    again."""
    exposure_max_age_s: float = Field(default=10.0, gt=0, le=600)
    """Exposure older than this is reloaded by the order path itself (failing closed)."""
    events_retention_s: float = Field(default=86_400.0, gt=0, le=30 * 86_400)
    """GET /v1/events: events kept for resuming with Last-Event-ID (older ones are pruned;
    resuming from before them answers 410 event_id_expired)."""
    events_heartbeat_s: float = Field(default=15.0, gt=0, le=600)
    """GET /v1/events: a comment line this often, so that proxies keep idle streams open."""
    events_queue_max: int = Field(default=1000, ge=1, le=1_000_000)
    """GET /v1/events: events a stream may fall behind before it is closed (slow_reader)."""
    events_send_timeout_s: float = Field(default=30.0, gt=0, le=600)
    """GET /v1/events: a send blocked this long (the client stopped reading) closes the
    stream."""
    default_price_band_bps: int = Field(default=1000, ge=0, le=10_000)
    """Safe default price band around the oracle price (0: none) until an admin sets one."""
    default_max_slippage_bps: int = Field(default=500, ge=0, le=10_000)
    """Safe default maximum slippage (0: none) until an admin sets one."""
    default_max_order_notional: Decimal = Field(default=Decimal(100_000), ge=0, le=10**12)
    """Safe default maximum notional of one order in USDC (0: none) until an admin sets one."""
    require_risk_limits: bool | None = None
    """Trade only reduce-only orders until an admin has set the global risk limits. Unset: on
    for testnet and mainnet, off for the devnet."""

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
    def _permissioned(self) -> Settings:
        if (self.owner_address is None) != (self.authenticator_id is None):
            raise ValueError("DYDX_ROUTER_OWNER_ADDRESS and _AUTHENTICATOR_ID go together")
        return self

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
