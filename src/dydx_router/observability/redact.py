"""Log redaction: the last processors around rendering, for structlog and the stdlib bridge.

Whatever reaches a log line passes through :func:`redact_event` after exceptions are formatted,
so tracebacks are covered too, and the rendered line through :func:`redact_line`. They replace:

- secrets registered at start-up (the mnemonic, the private key, the database password), exact
  matches anywhere, in every encoding they could be printed in: the text, hex (either case),
  base64 (standard and URL-safe), the ``repr`` of bytes, and each of these escaped as JSON or as a
  Python string literal (a value nested in a dict is rendered by ``repr``);
- API keys (``dxr_`` + 43 URL-safe characters) and ``Bearer`` credentials;
- any BIP39 mnemonic, not only ours (12+ words in any layout, ``mnemonics.py``), in one string or
  split over the fields, list items or keys of one line;
- the password of any ``scheme://user:password@host`` URL.

In a log line, the patterns are matched on the values as text: strings as they are, bytes
decoded and as their ``repr``, every other object (a set, a dataclass) as its ``repr``, which
replaces it when a pattern is found in it; dictionary keys like values. The registered secrets
are looked for once, in the rendered line: whatever a renderer makes of a value (orjson
serialises a dataclass field by field, structlog falls back to ``repr``), their forms cannot
pass. :meth:`Redactor.text` (span exceptions, error responses, the MCP guard) does both.

Secrets are kept in a private set, never rendered; registering is idempotent.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from dydx_router.observability import mnemonics

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 8

_API_KEY = r"dxr_[A-Za-z0-9_\-]{16,}"
_BEARER = r"(?i:bearer)\s+[A-Za-z0-9_\-\.=~+/]{8,}"
_URL_CREDENTIALS = r"(?<=[a-z0-9+.\-]://)[^\s:/@]*:[^\s@/]+(?=@)"
_PATTERNS = re.compile("|".join([_API_KEY, _BEARER, _URL_CREDENTIALS]))

# A string holds none of the patterns above without one of these (compared case-folded): the
# regular expression runs only when one is present. Log lines are mostly ids, hashes and
# numbers, and running the expression on each of their values was most of a line's cost.
_TRIGGERS = ("dxr_", "bearer", "://")

# Values whose rendering is fixed by their type and cannot carry a secret: passed as they are.
_SAFE = (int, float, bool, type(None), Decimal, UUID, datetime, date, time, timedelta)


def _escaped(form: str) -> set[str]:
    """``form`` as it appears inside a JSON string and inside a Python string literal."""
    return {
        form,
        json.dumps(form)[1:-1],
        json.dumps(form, ensure_ascii=False)[1:-1],
        repr(form)[1:-1],
    }


def _binary_forms(secret: bytes) -> set[str]:
    """Hex in either case, base64 (without its padding, which base64url often drops) and the
    ``repr`` that logging the bytes themselves prints."""
    return {
        secret.hex(),
        secret.hex().upper(),
        base64.b64encode(secret).decode().rstrip("="),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
        repr(secret),
    }


class Redactor:
    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        # The forms, longest first, and their pattern: one attribute, swapped whole.
        self._forms: tuple[tuple[str, ...], re.Pattern[str] | None] = ((), None)

    def _add(self, forms: set[str]) -> None:
        forms = {e for f in forms for e in _escaped(f)}
        forms = {f for f in forms if len(f) >= MIN_SECRET_LENGTH}
        with self._lock:
            if forms <= self._secrets:
                return
            self._secrets |= forms
            ordered = tuple(sorted(self._secrets, key=len, reverse=True))
            self._forms = (ordered, re.compile("|".join(re.escape(s) for s in ordered)))

    def register(self, secret: str) -> None:
        """Redact ``secret`` (and its whitespace-normalised form, each also as UTF-8 bytes in
        hex and base64) from now on."""
        texts = {
            f for f in (secret.strip(), " ".join(secret.split())) if len(f) >= MIN_SECRET_LENGTH
        }
        self._add(
            texts | {b for t in texts for b in _binary_forms(t.encode()) - {repr(t.encode())}}
        )

    def register_bytes(self, secret: bytes) -> None:
        """A binary secret in the encodings it could be printed in."""
        self._add(_binary_forms(secret))

    def text(self, value: str) -> str:
        """``value`` with every secret replaced: the registered ones and the patterns."""
        if len(value) < MIN_SECRET_LENGTH:
            return value  # shorter than any secret or pattern: the common case, made cheap
        return _patterns(self.registered(value))

    def registered(self, text: str) -> str:
        """``text`` with the registered secrets replaced (only them: in a rendered line, a
        pattern could reach over the quotes of its JSON; a secret's forms hold none unescaped)."""
        ordered, exact = self._forms
        if exact is None or not any(s in text for s in ordered):
            return text
        return exact.sub(REDACTED, text)

    def value(self, value: Any) -> Any:
        """A log line's value with the patterns replaced, recursively; the registered secrets
        are left to :func:`redact_line`, which finds them in the rendered line."""
        if isinstance(value, str):
            return _patterns(value)
        if isinstance(value, _SAFE):
            return value
        if isinstance(value, Mapping):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return _object(value)


def _patterns(value: str) -> str:
    """``value`` with API keys, bearer credentials, URL passwords and mnemonics replaced."""
    if len(value) < MIN_SECRET_LENGTH:
        return value
    folded = value.lower()
    if any(t in folded for t in _TRIGGERS):
        value = _PATTERNS.sub(REDACTED, value)
    if len(value) >= mnemonics.MIN_WORDS * 3:
        for start, end in reversed(mnemonics.spans(value)):
            value = value[:start] + REDACTED + value[end:]
    return value


def _object(value: Any) -> Any:
    """Bytes, a set, any other object: matched as the text it renders as, replaced by that text
    redacted when it held a secret, else passed on as it is."""
    if isinstance(value, BaseException):
        return _patterns(f"{type(value).__name__}: {value}")
    try:
        shown = repr(value)
        if isinstance(value, bytes | bytearray | memoryview):
            decoded = bytes(value).decode("utf-8", "replace")
            hidden = _patterns(decoded)
            if hidden != decoded:  # a mnemonic over several lines, which repr would join
                return hidden
    except Exception:  # a broken __repr__ is the renderer's to report
        return value
    hidden = _patterns(shown)
    return hidden if hidden != shown else value


REDACTOR = Redactor()


def register_secret(secret: str) -> None:
    REDACTOR.register(secret)


def register_secret_bytes(secret: bytes) -> None:
    REDACTOR.register_bytes(secret)


def redact_event(logger: object, method: str, event_dict: Any) -> Any:
    """structlog processor: redact every value (place it after ``format_exc_info``, and
    :func:`redact_line` after the renderer).

    The common line holds no secret: its strings (and keys) are gathered and tested together
    once, for the patterns' triggers and for 12 words in a row (newline-joined: no pattern
    matches across a line break, and the word test may only err towards the full pass), and the
    line is passed on as it is, not copied. Only a line that may hold one is rebuilt redacted.
    The registered secrets are not looked for here: :func:`redact_line` looks for them in the
    whole rendered line, this line's values included (one scan instead of two).
    """
    texts: list[str] = []
    names: list[str] = []
    objects: list[Any] = []
    own: list[str] = []
    _gather(event_dict, texts, names, objects, own)
    joined = "\n".join([*texts, *own])  # the line's own fields last: never inside a run
    folded = joined.lower()
    if (
        any(t in folded for t in _TRIGGERS)
        or mnemonics.has_run(joined)
        or (len(names) >= mnemonics.MIN_WORDS and mnemonics.has_run("\n".join(names)))
        or any(_object(o) is not o for o in objects)
    ):
        redacted = {REDACTOR.value(k): REDACTOR.value(v) for k, v in event_dict.items()}
        return mnemonics.redact_split(redacted, REDACTED)
    return event_dict


def _gather(
    value: Any,
    texts: list[str],
    names: list[str],
    objects: list[Any],
    own: list[str] | None = None,
) -> None:
    """The strings of ``value`` in order (keys that are identifiers apart, in ``names``), and
    the objects to be matched as text; ``own``: the values of the line's own fields (the
    top-level call), which are not part of a run across fields."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            if own is not None and k in mnemonics.STRUCTURAL_KEYS:
                _gather(v, own, own, objects)
                continue
            if type(k) is str:
                (names if k.isidentifier() else texts).append(k)
            elif not isinstance(k, _SAFE):
                objects.append(k)
            if type(v) is str:
                texts.append(v)
            elif not isinstance(v, _SAFE):
                _gather(v, texts, names, objects)
    elif isinstance(value, list | tuple):
        for v in value:
            if type(v) is str:
                texts.append(v)
            elif not isinstance(v, _SAFE):
                _gather(v, texts, names, objects)
    elif isinstance(value, str):
        texts.append(value)
    elif not isinstance(value, _SAFE):
        objects.append(value)


def redact_line(logger: object, method: str, rendered: Any) -> Any:
    """structlog processor after the renderer: the registered secrets, whatever the renderer
    made of the values that held them."""
    if isinstance(rendered, str):
        return REDACTOR.registered(rendered)
    return rendered
