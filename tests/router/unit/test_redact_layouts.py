"""Mnemonics in the layouts people write them in, secrets held by bytes, sets and objects, and
the ordinary lines that must pass untouched (observability/redact.py, mnemonics.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest
from bip_utils import Bip39MnemonicGenerator

from dydx_router.observability.redact import REDACTED, Redactor, redact_event

# A fixed mnemonic (24 distinct words), so that a failure is reproducible.
WORDS = str(Bip39MnemonicGenerator().FromEntropy(bytes(range(100, 132)))).split()
FOUR = [w[:4] for w in WORDS]


def _numbered(fmt: str, words: list[str]) -> str:
    return " ".join(fmt.format(i, w) for i, w in enumerate(words, 1))


LAYOUTS: dict[str, Callable[[list[str]], dict[str, Any]]] = {
    "underscores": lambda w: {"v": "_".join(w)},
    "pipes": lambda w: {"v": "|".join(w)},
    "slashes": lambda w: {"v": "/".join(w)},
    "spaced pipes": lambda w: {"v": " | ".join(w)},
    "1=word": lambda w: {"v": _numbered("{}={}", w)},
    "1) word": lambda w: {"v": _numbered("{}) {}", w)},
    "1. word": lambda w: {"v": _numbered("{}. {}", w)},
    "1:word": lambda w: {"v": _numbered("{}:{}", w)},
    "#1 word, one a line": lambda w: {"v": "\n".join(f"#{i} {x}" for i, x in enumerate(w, 1))},
    "first four letters": lambda w: {"v": " ".join(x[:4] for x in w)},
    "first four letters, numbered, in capitals": lambda w: {
        "v": _numbered("{}. {}", [x[:4].upper() for x in w])
    },
    "first four letters as list items": lambda w: {"v": [x[:4] for x in w]},
    "a dict printed into a string": lambda w: {"v": str({i: x for i, x in enumerate(w, 1)})},
    "one word per key of a nested dict": lambda w: {"backup": {x: i for i, x in enumerate(w)}},
    "one word per key, numbers as strings": lambda w: {
        "backup": {x: str(i) for i, x in enumerate(w)}
    },
    "one word per keyword argument": lambda w: {x: i for i, x in enumerate(w)},
    "one word per key, cut to four letters": lambda w: {x[:4]: True for x in w},
}


def _leaked(out: Any) -> set[str]:
    """The words (or four-letter cuts) of the mnemonic still in ``out``."""
    flat = json.dumps(out, default=repr).lower()
    return set(re.findall(r"[a-z]+", flat)) & (set(WORDS) | set(FOUR))


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_a_mnemonic_in_any_common_layout_is_redacted(layout: str) -> None:
    event = {"event": "backup_written", **LAYOUTS[layout](WORDS)}
    out = redact_event(None, "info", dict(event))
    assert REDACTED in json.dumps(out), out
    assert not _leaked(out), out
    assert out["event"] == "backup_written"
    for text in (v for v in event.values() if isinstance(v, str)):
        assert not _leaked(Redactor().text(text))  # the same rules for span exceptions and errors


def test_a_mnemonic_split_over_fields_takes_those_fields_and_never_the_event_name() -> None:
    # "case" is a BIP39 word: as the event name it is the line's own, not part of the run.
    event = {"event": "case", "a": " ".join(WORDS[:8]), "b": " ".join(WORDS[8:16]), "c": WORDS[16]}
    event |= {"level": "info", "timestamp": "2024-05-01T12:00:00Z", "n": 3}
    out = redact_event(None, "info", dict(event))
    assert out == {"event": "case", "a": REDACTED, "b": REDACTED, "c": REDACTED} | {
        "level": "info",
        "timestamp": "2024-05-01T12:00:00Z",
        "n": 3,
    }


ORDINARY: list[dict[str, Any]] = [
    {
        "event": "request_completed",
        "method": "POST",
        "route": "/v1/orders",
        "path": "/v1/orders",
        "status": 201,
        "duration_ms": 1.234,
        "request_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "order_id": "9c858901-8a57-4791-81fe-4c455b099bc9",
        "market": "BTC-USD",
        "tx_hash": "AB" * 32,
        "order_status": "OPEN",
        "level": "info",
        "timestamp": "2024-05-01T12:00:00.123456Z",
    },
    {
        "event": "case",
        "market": "ETH-USD",
        "side": "BUY",
        "type": "LIMIT",
        "time_in_force": "GTT",
        "price": "3000.5",
        "size": "0.01",
        "reduce_only": False,
        "post_only": True,
        "client_id": 42,
        "subaccount": 0,
        "good_til_block": 123,
        "level": "info",
    },
    {"event": "order_rejected", "reason": "the order was canceled because the market moved"},
    {"event": "x", "note": "please wait: the node is not ready yet, retry in 5 s (attempt 2/3)"},
    {"event": "x", "note": "open / fill / cancel / expire | buy sell | info warn error"},
    {"event": "x", "steps": "1. place the order 2. wait for the fill 3. cancel the rest at 10:30"},
    {"event": "x", "headers": {"content-type": "application/json", "user-agent": "httpx/0.27"}},
    # eleven words of a mnemonic, in the layouts above: one short of the threshold
    {"event": "x", "v": "_".join(WORDS[:11])},
    {"event": "x", "v": " ".join(FOUR[:11])},
    {"event": "x", **{w: 1 for w in WORDS[:11]}},
    {"event": "x", "a": " ".join(WORDS[:6]), "n": 7, "b": "id", "c": " ".join(WORDS[6:12])},
]


@pytest.mark.parametrize("line", ORDINARY, ids=range(len(ORDINARY)))
def test_ordinary_lines_and_short_runs_of_words_pass_untouched(line: dict[str, Any]) -> None:
    assert redact_event(None, "info", line) is line  # not even copied
    for text in (v for v in line.values() if isinstance(v, str)):
        assert Redactor().text(text) == text


OBJECTS = textwrap.dedent(
    """
    import dataclasses, json, logging, sys
    import structlog
    from dydx_router.observability import redact
    from dydx_router.observability.logs import configure_logging

    mnemonic, key_hex, other, fmt = sys.argv[1:5]
    key = bytes.fromhex(key_hex)
    configure_logging(fmt, "DEBUG")
    redact.register_secret(mnemonic)
    redact.register_secret_bytes(key)

    @dataclasses.dataclass
    class Cfg:
        m: str

    @dataclasses.dataclass
    class Hidden:
        k: str = dataclasses.field(repr=False)  # repr hides it; orjson serialises every field

    log = structlog.get_logger("objects")
    log.info("frozenset", v=frozenset([mnemonic]))
    log.info("set", v={mnemonic})
    log.info("bytes", v=mnemonic.encode())
    log.info("dataclass", v=Cfg(mnemonic))
    log.info("hidden", v=Hidden(key_hex))
    log.info("key", v=key)
    log.info("bytearray", v=bytearray(key))
    log.info("memoryview", v=memoryview(key))
    log.info("nested", v={"keys": [key, str(key)], "s": [repr(key)]})
    log.info("as text", v=str(key), w=repr([str(key)]))
    log.info("hex of the mnemonic", v=mnemonic.encode().hex())
    log.info("json", v=json.dumps({"k": repr(key)}))
    log.info("other's, as bytes over lines", v="\\n".join(other.split()).encode())
    log.info("other's, in a set", v=frozenset([other]))
    logging.getLogger("stdlib").warning("stdlib %s %r", key, {mnemonic})
    log.info("done")
    """
)


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_secrets_held_by_bytes_sets_and_objects_never_reach_the_logs(fmt: str) -> None:
    from dydx_router.chain.wallet import _private_key_from_mnemonic

    mnemonic = " ".join(WORDS)
    key = _private_key_from_mnemonic(mnemonic)
    other = str(Bip39MnemonicGenerator().FromEntropy(bytes(range(32, 48))))
    done = subprocess.run(
        [sys.executable, "-c", OBJECTS, mnemonic, key.hex(), other, fmt],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out = done.stdout + done.stderr
    assert "done" in out and "memoryview" in out  # every line was written
    forbidden = {
        mnemonic,
        key.hex(),
        key.hex().upper(),
        mnemonic.encode().hex(),
        repr(key)[2:-1],  # the raw bytes as Python prints them
        json.dumps(repr(key))[1:-1],  # ... and escaped once more, as JSON or a nested repr
        repr(repr(key))[1:-1],
        *(" ".join(WORDS[i : i + 4]) for i in range(0, 21)),
        *(" ".join(other.split()[i : i + 4]) for i in range(0, 9)),
        *("\\n".join(other.split()[i : i + 4]) for i in range(0, 9)),
    }
    leaks = sorted(s for s in forbidden if s in out)
    assert not leaks, f"leaked into {fmt} logs"
    if fmt == "json":
        for line in done.stderr.splitlines():
            json.loads(line)  # redacting the rendered line keeps it valid JSON
