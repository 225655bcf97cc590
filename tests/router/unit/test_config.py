from __future__ import annotations

import pytest

from dydx_router.config import ConfigError, Network, NodeEndpoint, load_settings

MNEMONIC = "abandon " * 23 + "art"


def test_presets_fill_chain_id_and_endpoints() -> None:
    s = load_settings(network="mainnet")
    assert s.effective_chain_id == "dydx-mainnet-1"
    assert s.nodes[0].tls and s.nodes[0].port == 443
    assert s.indexers == ["https://indexer.dydx.trade"]
    t = load_settings(network="testnet")
    assert t.effective_chain_id == "dydx-testnet-4"
    d = load_settings(network=Network.DEVNET)
    assert d.effective_chain_id == "localdydxprotocol"
    assert str(d.nodes[0]) == "grpc://127.0.0.1:9090" and not d.nodes[0].tls


def test_endpoint_lists_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYDX_ROUTER_NODE_ENDPOINTS", "10.0.0.1:9090, grpcs://node.example:443")
    monkeypatch.setenv("DYDX_ROUTER_INDEXER_URLS", '["http://a:3002", "https://b/"]')
    s = load_settings()
    assert [n.target for n in s.nodes] == ["10.0.0.1:9090", "node.example:443"]
    assert [n.tls for n in s.nodes] == [False, True]
    assert s.indexers == ["http://a:3002", "https://b"]


@pytest.mark.parametrize(
    ("env", "value", "named"),
    [
        ("DYDX_ROUTER_NODE_ENDPOINTS", "not a url", "DYDX_ROUTER_NODE_ENDPOINTS"),
        ("DYDX_ROUTER_NODE_ENDPOINTS", "ftp://x:1", "DYDX_ROUTER_NODE_ENDPOINTS"),
        ("DYDX_ROUTER_INDEXER_URLS", "indexer.local", "DYDX_ROUTER_INDEXER_URLS"),
        ("DYDX_ROUTER_NETWORK", "moonnet", "DYDX_ROUTER_NETWORK"),
        ("DYDX_ROUTER_PORT", "eighty", "DYDX_ROUTER_PORT"),
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL"),
        ("DYDX_ROUTER_GOOD_TIL_BLOCK_OFFSET", "41", "DYDX_ROUTER_GOOD_TIL_BLOCK_OFFSET"),
    ],
)
def test_bad_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, named: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(named + ":")
    assert "\n" not in message


def test_secrets_never_in_repr_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYDX_ROUTER_MNEMONIC", MNEMONIC)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:hunter2@h/db")
    s = load_settings()
    assert "abandon" not in repr(s) and "hunter2" not in repr(s)
    assert s.require_mnemonic().get_secret_value() == MNEMONIC
    # a failing validation elsewhere must not echo the secret input either
    monkeypatch.setenv("DYDX_ROUTER_PORT", "bad")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "abandon" not in str(info.value)


def test_missing_required_settings_are_named() -> None:
    s = load_settings()
    with pytest.raises(ConfigError, match=r"^DYDX_ROUTER_MNEMONIC: required"):
        s.require_mnemonic()


def test_node_endpoint_parse() -> None:
    assert NodeEndpoint.parse("grpcs://h:443") == NodeEndpoint("h", 443, True)
    assert NodeEndpoint.parse("h:9090") == NodeEndpoint("h", 9090, False)
    with pytest.raises(ValueError):
        NodeEndpoint.parse("h")
