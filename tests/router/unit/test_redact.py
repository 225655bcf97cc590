"""Secret hygiene of the logs: structlog and the stdlib bridge, events, fields and tracebacks.

The logging set-up is process-global, so the scenarios run in a child process with the service's
own ``configure_logging``; the test reads everything it wrote.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest
from bip_utils import Bip39MnemonicGenerator, Bip39WordsNum
from pydantic import SecretStr

from dydx_router.chain.wallet import Wallet, _private_key_from_mnemonic
from dydx_router.observability.redact import REDACTED, Redactor

SCENARIOS = textwrap.dedent(
    """
    import logging, sys
    import structlog
    from dydx_router.observability import redact
    from dydx_router.observability.logs import configure_logging

    mnemonic, key_hex, api_key, other_mnemonic, fmt = sys.argv[1:6]
    configure_logging(fmt, "DEBUG")
    redact.register_secret(mnemonic)
    redact.register_secret_bytes(bytes.fromhex(key_hex))
    redact.register_secret("s3cret-db-pass")
    log = structlog.get_logger("scenario")
    log.info("wallet_loaded", mnemonic=mnemonic, note="startup")
    log.info("key " + key_hex.upper(), nested={"deep": [key_hex, {"k": api_key}]})
    log.warning("request_failed", headers={"authorization": "Bearer " + api_key})
    log.info("connecting", url="postgresql://router:s3cret-db-pass@db:5432/x?sslmode=require")
    log.info("someone pasted a phrase", text="please use " + other_mnemonic + " thanks")
    try:
        raise RuntimeError("signing failed for " + mnemonic)
    except RuntimeError:
        log.exception("order_broadcast_failed")
    try:
        secret_local = key_hex
        raise ValueError(f"bad key {secret_local}")
    except ValueError:
        logging.getLogger("asyncpg").error("stdlib %s", api_key, exc_info=True)
    logging.getLogger("uvicorn.error").warning("mnemonic in a stdlib line: %s", mnemonic)
    log.info("order_submitted", tx_hash="AB" * 32, market="BTC-USD")
    """
)


@pytest.fixture(scope="module")
def secrets() -> dict[str, str]:
    def phrase() -> str:
        return str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24))

    mnemonic = phrase()
    key = _private_key_from_mnemonic(mnemonic)
    assert Wallet.from_mnemonic(SecretStr(mnemonic)).address.startswith("dydx1")
    return {
        "mnemonic": mnemonic,
        "key_hex": key.hex(),
        "api_key": "dxr_" + "Zk3_q9" * 7 + "x",
        "other_mnemonic": phrase(),
    }


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_no_secret_reaches_the_logs(secrets: dict[str, str], fmt: str) -> None:
    args = [secrets[k] for k in ("mnemonic", "key_hex", "api_key", "other_mnemonic")]
    done = subprocess.run(
        [sys.executable, "-c", SCENARIOS, *args, fmt],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out = done.stdout + done.stderr
    assert "order_broadcast_failed" in out and "Traceback" in out  # the scenarios did log
    assert "AB" * 32 in out  # a tx hash is not a secret: it stays
    forbidden = [
        secrets["mnemonic"],
        secrets["key_hex"],
        secrets["key_hex"].upper(),
        secrets["api_key"],
        secrets["other_mnemonic"],
        "s3cret-db-pass",
        # no run of four consecutive words of either mnemonic survives anywhere
        *(" ".join(m.split()[i : i + 4]) for m in (secrets["mnemonic"],) for i in range(0, 20, 4)),
    ]
    leaks = [s for s in forbidden if s in out]
    assert not leaks, f"leaked into {fmt} logs"
    assert out.count(REDACTED) >= 8
    if fmt == "json":
        for line in done.stderr.splitlines():
            json.loads(line)  # redaction keeps every line valid JSON


def test_prose_and_identifiers_are_left_alone() -> None:
    r = Redactor()
    text = "the order was canceled because the market moved and the agent asked for a retry soon"
    assert r.text(text) == text
    assert r.text("dydx1abc order 7f1c uuid 123e4567-e89b-12d3-a456-426614174000") == (
        "dydx1abc order 7f1c uuid 123e4567-e89b-12d3-a456-426614174000"
    )
    r.register("short")  # too short to be a secret: registering must not shred every log line
    assert r.text("a short note") == "a short note"


def test_a_plain_line_passes_untouched_and_a_secret_among_plain_values_is_caught() -> None:
    from dydx_router.observability.redact import redact_event, redact_line, register_secret

    plain = {"event": "order_submitted", "tx_hash": "AB" * 32, "status": 201, "ms": 1.5}
    assert redact_event(None, "info", plain) is plain  # the cheap path: nothing copied
    for leaky in (
        {"event": "x", "auth": "Bearer dxr_" + "a" * 43, "ok": True},
        {"event": "x", "url": "postgresql://u:pw-in-url@h/db", "n": None},
        {"event": "x", "words": " ".join(["abandon"] * 11 + ["zoo"])},
    ):
        out = redact_event(None, "info", leaky)
        assert out is not leaky and REDACTED in "".join(str(v) for v in out.values())
    # A registered secret is found in the rendered line, whatever the renderer made of it.
    register_secret("k3y-in-a-plain-line")
    line = {"event": "x", "note": "the k3y-in-a-plain-line here", "n": 1}
    rendered = redact_line(None, "info", json.dumps(redact_event(None, "info", line)))
    assert "k3y-in-a-plain-line" not in rendered and REDACTED in rendered
    json.loads(rendered)


def _phrase() -> list[str]:
    return str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24)).split()


def test_a_mnemonic_split_numbered_or_used_as_a_key_is_caught() -> None:
    from dydx_router.observability.redact import redact_event

    words = _phrase()
    numbered = " ".join(f"{i}. {w}" for i, w in enumerate(words, 1))
    cases = [
        # split over the fields of one line
        {"event": "x", "part_1": " ".join(words[:12]), "part_2": " ".join(words[12:])},
        {"event": "x", "a": " ".join(words[:8]), "b": " ".join(words[8:16]), "c": words[16]},
        # a numbered list, in one string and as list items
        {"event": "x", "backup": numbered},
        {"event": "x", "backup": [f"{i}) {w}" for i, w in enumerate(words, 1)]},
        {"event": "x", "backup": "\n".join(f"{i} - {w}" for i, w in enumerate(words, 1))},
        # in a dictionary key, at the top or nested
        {"event": "x", " ".join(words): 1},
        {"event": "x", "nested": {" ".join(words): "value"}},
    ]
    for event in cases:
        out = redact_event(None, "info", dict(event))
        assert REDACTED in json.dumps(out), event
        flat = json.dumps(out)
        assert not any(" ".join(words[i : i + 4]) in flat for i in range(20)), out
        assert sum(f'"{w}"' in flat or f" {w}" in flat for w in words[:16]) < 4, out


def test_a_mnemonic_in_capitals_hyphenated_or_split_over_key_and_value_is_caught() -> None:
    from dydx_router.observability.redact import redact_event

    words = _phrase()[:12]
    cases = [
        # written down in capitals, or capitalised, as paper backups often are
        {"event": "x", "backup": " ".join(words).upper()},
        {"event": "x", "backup": " ".join(w.capitalize() for w in words)},
        {"event": "restore with " + " ".join(words).upper()},
        # joined with hyphens (no spaces at all)
        {"event": "x", "slug": "-".join(words)},
        # half in a key, half in its value
        {"event": "x", " ".join(words[:6]): " ".join(words[6:])},
    ]
    for event in cases:
        flat = json.dumps(redact_event(None, "info", dict(event)))
        assert REDACTED in flat, event
        assert len(set(re.findall(r"[a-z]+", flat.lower())) & set(words)) < 4, (event, flat)
    assert Redactor().text(" ".join(words).upper()) == REDACTED


def test_numbered_prose_and_ordinary_fields_are_left_alone() -> None:
    from dydx_router.observability.redact import redact_event

    text = "1. place the order 2. wait for the fill 3. cancel the rest at 10:30"
    assert Redactor().text(text) == text
    for text in (
        "Order 3fa85f64-5717-4562-b3fc-2c963f66afa6 replaced 9c858901-8a57-4791-81fe-4c455b099bc9",
        "A Long Title In Capitals That Is Not A Mnemonic At All Because Of Its Words",
        "re-run the fill-or-kill post-only order with a good-til-block of twenty",
    ):
        assert Redactor().text(text) == text
    line = {"event": "order_submitted", "market": "BTC-USD", "side": "BUY", "status": "OPEN"}
    assert redact_event(None, "info", dict(line)) == line
