"""The MCP guard rails on their own: preview tokens and secret detection."""

from __future__ import annotations

from decimal import Decimal

import pytest
from bip_utils import Bip39MnemonicGenerator, Bip39WordsNum

from dydx_router.mcp.guard import McpSettings, PreviewTokens, Refusal, looks_secret, refuse_secrets

PARAMS = {"market": "BTC-USD", "side": "BUY", "size": Decimal("0.001"), "price": None}


def tokens(ttl: float = 30) -> PreviewTokens:
    return PreviewTokens(McpSettings(preview_ttl_s=ttl))


def refusal(fn: object, *args: object, **kwargs: object) -> Refusal:
    with pytest.raises(Refusal) as caught:
        fn(*args, **kwargs)  # type: ignore[operator]
    return caught.value


def test_a_token_admits_exactly_its_parameters_by_value() -> None:
    t = tokens()
    token, _ = t.issue("place", PARAMS, "key-a", now=1000)
    t.check(token, "place", {**PARAMS, "size": Decimal("0.0010")}, "key-a", now=1010)
    r = refusal(t.check, token, "place", {**PARAMS, "size": Decimal("0.002")}, "key-a", now=1010)
    assert r.code == "preview_mismatch"
    assert "size: previewed '0.001', now '0.002'" in r.message and "To proceed" in r.render()


def test_expired_other_key_other_intent_forged_and_foreign_tokens_are_refused() -> None:
    t = tokens(ttl=30)
    token, _ = t.issue("place", PARAMS, "key-a", now=1000)
    assert refusal(t.check, token, "place", PARAMS, "key-a", now=1031).code == "preview_expired"
    assert refusal(t.check, token, "place", PARAMS, "key-b", now=1001).code == "preview_invalid"
    assert refusal(t.check, token, "close", PARAMS, "key-a", now=1001).code == "preview_mismatch"
    body, signature = token.split(".")
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + signature
    assert refusal(t.check, forged, "place", PARAMS, "key-a", now=1001).code == "preview_invalid"
    other, _ = tokens().issue("place", PARAMS, "key-a", now=1000)  # another server's secret
    assert refusal(t.check, other, "place", PARAMS, "key-a", now=1001).code == "preview_invalid"
    assert refusal(t.check, "garbage", "place", PARAMS, "key-a").code == "preview_invalid"


def test_secrets_are_refused_without_being_repeated() -> None:
    mnemonic = str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24))
    private_key = "0x" + "ab12" * 16
    api_key = "dxr_" + "A" * 43
    for secret in (mnemonic, private_key, api_key, f"because {mnemonic}"):
        assert looks_secret(secret)
        r = refusal(refuse_secrets, {"reason": secret})
        assert r.code == "secret_in_arguments" and secret not in r.render()
    for fine in ("momentum: BTC above its 1h mean", "BTC-USD", "0.001"):
        assert not looks_secret(fine)
