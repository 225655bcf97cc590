"""Log redaction: the last processor before rendering, for structlog and the stdlib bridge.

Whatever reaches a log line passes through :func:`redact_event` after exceptions are formatted,
so tracebacks are covered too. It replaces:

- secrets registered at start-up (the mnemonic, the private key in hex and base64, the database
  password): exact matches anywhere in any string;
- API keys (``dxr_`` + 43 URL-safe characters) and ``Bearer`` credentials;
- any run of 12 or more BIP39 English words (any mnemonic, not only ours), in either case, also
  when numbered ("1. abandon 2. ability ..."), joined by hyphens, or split across the fields,
  list items or keys of one line (a key and its value included);
- the password of any ``scheme://user:password@host`` URL.

Dictionary keys are redacted like values.

Secrets are kept in a private set, never rendered; registering is idempotent.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 8

_API_KEY = r"dxr_[A-Za-z0-9_\-]{16,}"
_BEARER = r"(?i:bearer)\s+[A-Za-z0-9_\-\.=~+/]{8,}"
_URL_CREDENTIALS = r"(?<=[a-z0-9+.\-]://)[^\s:/@]*:[^\s@/]+(?=@)"
_SEPARATOR = r"[\s,'\"\[\]]+"  # spaces, or the quotes and commas of a printed list of words
# Letters of either case: a mnemonic written down in capitals is the same mnemonic.
_WORD_RUN = re.compile(rf"\b[a-zA-Z]{{3,8}}(?:{_SEPARATOR}[a-zA-Z]{{3,8}}){{11,}}\b")
# Numbered lists ("1. abandon 2) ability 3 - able"): numbers and list punctuation count as spaces.
# The text is translated character for character (same offsets), then searched for word runs.
_LIST_PUNCTUATION = str.maketrans(dict.fromkeys("0123456789.():;#-", " "))
# The strings of a list split over several values: words with list punctuation around them.
_LIST_SEPARATOR = r"[\s,'\"\[\]0-9.():;#\-]+"
_MNEMONIC_MIN_WORDS = 12
_WORD = re.compile(r"[a-zA-Z]+")


@lru_cache(maxsize=1)
def _bip39_words() -> frozenset[str]:
    from bip_utils.bip.bip39.bip39_mnemonic import Bip39Languages
    from bip_utils.bip.bip39.bip39_mnemonic_utils import Bip39WordsListGetter

    words = Bip39WordsListGetter().GetByLanguage(Bip39Languages.ENGLISH)
    return frozenset(words.GetWordAtIdx(i) for i in range(words.Length()))


# A string holds none of the patterns above without one of these (compared case-folded): the
# regular expression runs only when one is present. Log lines are mostly ids, hashes and
# numbers, and running the expression on each of their values was most of a line's cost.
_TRIGGERS = ("dxr_", "bearer", "://")


class Redactor:
    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._ordered: tuple[str, ...] = ()
        self._lock = threading.Lock()
        self._pattern = self._compile()

    def _compile(self) -> re.Pattern[str]:
        exact = [re.escape(s) for s in self._ordered]  # longest first
        return re.compile("|".join([*exact, _API_KEY, _BEARER, _URL_CREDENTIALS]))

    def register(self, secret: str) -> None:
        """Redact ``secret`` (and its whitespace-normalised form) from now on."""
        forms = {secret.strip(), " ".join(secret.split())}
        forms = {f for f in forms if len(f) >= MIN_SECRET_LENGTH}
        with self._lock:
            if forms <= self._secrets:
                return
            self._secrets |= forms
            self._ordered = tuple(sorted(self._secrets, key=len, reverse=True))
            self._pattern = self._compile()

    def register_bytes(self, secret: bytes) -> None:
        """A binary secret in the encodings it could be printed in."""
        self.register(secret.hex())
        self.register(secret.hex().upper())
        self.register(base64.b64encode(secret).decode())
        self.register(base64.urlsafe_b64encode(secret).decode())
        self.register(repr(secret))

    def _may_match(self, value: str) -> bool:
        folded = value.lower()
        return any(t in folded for t in _TRIGGERS) or any(s in value for s in self._ordered)

    def may_hold_secret(self, value: str) -> bool:
        """False only when ``text`` would return ``value`` unchanged (a cheap test)."""
        if self._may_match(value):
            return True
        return len(value) >= 12 * 4 and _has_word_run(value)

    def text(self, value: str) -> str:
        if len(value) < MIN_SECRET_LENGTH:
            return value  # shorter than any secret or pattern: the common case, made cheap
        if self._may_match(value):
            value = self._pattern.sub(REDACTED, value)
        if len(value) >= 12 * 4:
            spans = _mnemonic_spans(value)
            for start, end in reversed(spans):
                value = value[:start] + REDACTED + value[end:]
        return value

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        if isinstance(value, BaseException):
            return self.text(f"{type(value).__name__}: {value}")
        return value


def _numbered_candidate(text: str) -> bool:
    """A numbered list of 12+ words ("1. abandon 2. ability ...") has at least 11 spaces (or,
    joined with hyphens, 11 hyphens); most log values (ids, hashes, timestamps) have few, and
    skip the costlier translated search."""
    return text.count(" ") + text.count("-") >= _MNEMONIC_MIN_WORDS - 1


def _has_word_run(text: str) -> bool:
    if _WORD_RUN.search(text) is not None:
        return True
    return _numbered_candidate(text) and (
        _WORD_RUN.search(text.translate(_LIST_PUNCTUATION)) is not None
    )


def _mnemonic_spans(text: str) -> list[tuple[int, int]]:
    """Where ``text`` holds 12+ consecutive BIP39 words (numbering and list punctuation
    between them allowed): (start, end) offsets, in order."""
    spans = _spans(text)
    if not spans and _numbered_candidate(text):
        # Translated character for character: the offsets are the original's.
        spans = _spans(text.translate(_LIST_PUNCTUATION))
    return spans


def _spans(text: str) -> list[tuple[int, int]]:
    known = _bip39_words()
    spans: list[tuple[int, int]] = []
    for run in _WORD_RUN.finditer(text):
        words = list(_WORD.finditer(text, run.start(), run.end()))
        i = 0
        while i < len(words):
            j = i
            while j < len(words) and words[j].group(0).lower() in known:
                j += 1
            if j - i >= _MNEMONIC_MIN_WORDS:
                spans.append((words[i].start(), words[j - 1].end()))
            i = max(j, i + 1)
    return spans


REDACTOR = Redactor()


def register_secret(secret: str) -> None:
    REDACTOR.register(secret)


def register_secret_bytes(secret: bytes) -> None:
    REDACTOR.register_bytes(secret)


_SCALARS = (int, float, bool, type(None))


def redact_event(logger: object, method: str, event_dict: Any) -> Any:
    """structlog processor: redact every value (place it after ``format_exc_info``).

    The common line holds only strings and numbers, none of them secret: their strings are
    tested together once (newline-joined: no pattern matches across a line break, and the
    word-run test may only err towards the full pass), and the line is passed on as it is.
    """
    texts: list[str] = []
    for v in event_dict.values():
        if isinstance(v, str):
            texts.append(v)
        elif not isinstance(v, _SCALARS):
            break  # a container or an object: the full pass
    else:
        # Keys are identifiers; only one with spaces in it could be a pasted secret.
        texts += [k for k in event_dict if isinstance(k, str) and " " in k]
        if not REDACTOR.may_hold_secret("\n".join(texts)):
            return event_dict
    redacted = {REDACTOR.value(k): REDACTOR.value(v) for k, v in event_dict.items()}
    return _redact_split_mnemonics(redacted)


_WORDY = re.compile(
    rf"(?:{_LIST_SEPARATOR})?[a-zA-Z]{{3,8}}(?:(?:{_LIST_SEPARATOR})[a-zA-Z]{{3,8}})*"
    rf"(?:{_LIST_SEPARATOR})?"
)


def _leaves(value: Any, out: list[str]) -> None:
    """Every string value of ``value`` in order, each key with a space in it before its value
    (a mnemonic may be split between the two; keys without one are names like ``part_1`` that
    would only break a run)."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(k, str) and " " in k:
                out.append(k)
            _leaves(v, out)
    elif isinstance(value, list | tuple):
        for v in value:
            _leaves(v, out)


def _marked(leaves: list[str]) -> set[str]:
    """The strings that together form a run of 12+ BIP39 words: consecutive strings made only of
    BIP39 words (and list separators), e.g. a mnemonic split over fields or list items."""
    known = _bip39_words()
    marked: set[str] = set()
    run: list[str] = []
    count = 0
    for text in [*leaves, ""]:
        words = _WORD.findall(text) if _WORDY.fullmatch(text) else []
        if words and all(w.lower() in known for w in words):
            run.append(text)
            count += len(words)
            continue
        if count >= _MNEMONIC_MIN_WORDS:
            marked.update(run)
        run, count = [], 0
    return marked


def _replace(value: Any, marked: set[str]) -> Any:
    if isinstance(value, str):
        return REDACTED if value in marked else value
    if isinstance(value, Mapping):
        return {_replace(k, marked): _replace(v, marked) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_replace(v, marked) for v in value]
    return value


def _redact_split_mnemonics(event: dict[Any, Any]) -> dict[Any, Any]:
    leaves: list[str] = []
    _leaves(event, leaves)
    if sum(len(t) for t in leaves) < _MNEMONIC_MIN_WORDS * 3:
        return event
    # No 12 short words in a row, even across strings: nothing to look for (the common case).
    if not _has_word_run("\n".join(leaves)):
        return event
    marked = _marked(leaves)
    return _replace(event, marked) if marked else event
