"""Go's `encoding/json` syntax errors (`scanner.go`): Unmarshal checks the whole input before
decoding (`checkValid`) and reports the first bad byte as a SyntaxError, e.g. ``invalid character
'g' looking for beginning of value`` or ``unexpected end of JSON input``. CometBFT's RPC puts that
text in its parse error (`rpc/jsonrpc/server/http_json_handler.go`: ``error unmarshaling request:
...``). This is the same state machine, reduced to the messages; it accepts exactly what Go
accepts (no NaN, no Infinity)."""

from __future__ import annotations

from collections.abc import Callable

_WS = b" \t\r\n"
_EOF = "unexpected end of JSON input"
_ESCAPES = frozenset(b'bfnrt"\\/')
_HEX = frozenset(b"0123456789abcdefABCDEF")
_DIGITS = frozenset(b"0123456789")


_Parser = Callable[[bytes, int], int]  # parses one value from an index, returns the index past it


class _SyntaxError(Exception):
    pass


def _quote(c: int) -> str:
    """scanner.go quoteChar: ``'\\''`` and ``'"'`` as such, others as strconv.Quote prints them
    between single quotes (a byte is read as the rune of that value)."""
    if c == ord("'"):
        return "'\\''"
    if c == ord('"'):
        return "'\"'"
    named = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v", 92: "\\\\"}
    if c in named:
        return f"'{named[c]}'"
    ch = chr(c)
    if c < 0x20 or c == 0x7F or (0x80 <= c < 0xA0):
        return f"'\\x{c:02x}'" if c < 0x80 else f"'\\u{c:04x}'"
    return f"'{ch}'"


def _fail(data: bytes, i: int, context: str) -> _SyntaxError:
    if i >= len(data):
        return _SyntaxError(_EOF)
    return _SyntaxError(f"invalid character {_quote(data[i])} {context}")


def _ws(data: bytes, i: int) -> int:
    while i < len(data) and data[i] in _WS:
        i += 1
    return i


def _at(data: bytes, i: int) -> int:
    return data[i] if i < len(data) else -1


def _string(data: bytes, i: int) -> int:
    i += 1  # the opening quote
    while True:
        c = _at(data, i)
        if c == -1:
            raise _SyntaxError(_EOF)
        if c == ord('"'):
            return i + 1
        if c == ord("\\"):
            e = _at(data, i + 1)
            if e == ord("u"):
                for k in range(i + 2, i + 6):
                    if _at(data, k) not in _HEX:
                        raise _fail(data, k, "in \\u hexadecimal character escape")
                i += 6
                continue
            if e not in _ESCAPES:
                raise _fail(data, i + 1, "in string escape code")
            i += 2
            continue
        if c < 0x20:
            raise _fail(data, i, "in string literal")
        i += 1


def _digits(data: bytes, i: int) -> int:
    while _at(data, i) in _DIGITS:
        i += 1
    return i


def _number(data: bytes, i: int) -> int:
    if data[i] == ord("-"):
        i += 1
        if _at(data, i) not in _DIGITS:
            raise _fail(data, i, "in numeric literal")
    i = i + 1 if data[i] == ord("0") else _digits(data, i)
    if _at(data, i) == ord("."):
        i += 1
        if _at(data, i) not in _DIGITS:
            raise _fail(data, i, "after decimal point in numeric literal")
        i = _digits(data, i)
    if _at(data, i) in (ord("e"), ord("E")):
        i += 1
        if _at(data, i) in (ord("+"), ord("-")):
            i += 1
        if _at(data, i) not in _DIGITS:
            raise _fail(data, i, "in exponent of numeric literal")
        i = _digits(data, i)
    return i


def _literal(data: bytes, i: int, word: bytes) -> int:
    for k in range(1, len(word)):
        if _at(data, i + k) != word[k]:
            expecting = chr(word[k])
            raise _fail(data, i + k, f"in literal {word.decode()} (expecting '{expecting}')")
    return i + len(word)


def _value(data: bytes, i: int) -> int:
    c = _at(data, i)
    if c == ord("{"):
        return _object(data, i)
    if c == ord("["):
        return _array(data, i)
    if c == ord('"'):
        return _string(data, i)
    if c == ord("-") or c in _DIGITS:
        return _number(data, i)
    for word in (b"true", b"false", b"null"):
        if c == word[0]:
            return _literal(data, i, word)
    raise _fail(data, i, "looking for beginning of value")


def _member(data: bytes, i: int) -> int:
    """An object's ``"key": value``, from its opening quote."""
    if _at(data, i) != ord('"'):
        raise _fail(data, i, "looking for beginning of object key string")
    i = _ws(data, _string(data, i))
    if _at(data, i) != ord(":"):
        raise _fail(data, i, "after object key")
    return _value(data, _ws(data, i + 1))


def _elements(data: bytes, i: int, close: bytes, element: _Parser, after: str) -> int:
    """An object or array from its opening byte: elements separated by commas up to ``close``
    (scanner.go stateEndValue: ``after`` names where a byte other than those two stands)."""
    i = _ws(data, i + 1)
    if _at(data, i) == close[0]:
        return i + 1
    while True:
        i = _ws(data, element(data, i))
        c = _at(data, i)
        if c == close[0]:
            return i + 1
        if c != ord(","):
            raise _fail(data, i, after)
        i = _ws(data, i + 1)


def _object(data: bytes, i: int) -> int:
    return _elements(data, i, b"}", _member, "after object key:value pair")


def _array(data: bytes, i: int) -> int:
    return _elements(data, i, b"]", _value, "after array element")


def syntax_error(data: bytes) -> str | None:
    """Go's error text for ``data`` (json.Unmarshal), None when encoding/json accepts its
    syntax."""
    try:
        i = _ws(data, _value(data, _ws(data, 0)))
        if i < len(data):
            raise _fail(data, i, "after top-level value")
    except _SyntaxError as e:
        return str(e)
    return None


def first_value(data: bytes) -> tuple[int, str | None]:
    """json.Decoder.Decode on a stream holding ``data`` (the websocket's reader,
    `ws_handler.go`): the first value alone is read, what follows it is left unread; the input
    ending before any value is ``EOF``, inside one ``unexpected EOF`` (io.ErrUnexpectedEOF).
    Returns (the end of the value, the error or None)."""
    start = _ws(data, 0)
    if start == len(data):
        return start, "EOF"
    try:
        return _value(data, start), None
    except _SyntaxError as e:
        text = str(e)
        return 0, "unexpected EOF" if text == _EOF else text
