"""Reading JSON-RPC requests as CometBFT 0.38 reads them (`rpc/jsonrpc/types/types.go`
RPCRequest.UnmarshalJSON and idFromInterface; `rpc/jsonrpc/server/http_json_handler.go`,
`ws_handler.go`).

An id is a string or a number (a JSON number is a float64 to Go: its decimals are truncated,
``1.5`` is id ``1``); absent or null, the request is a notification. Any other id makes the
request fail to unmarshal, which the server answers as a parse error (-32700, no id; HTTP 500):
``json-rpc ID (<%v>) is of unknown type (<type>)``. A body that is not an object fails the same
way with encoding/json's type error. The HTTP handler first reads the body as a batch and, if
that fails, as one request, so a batch holding one bad request reports the second attempt's
error: an array does not unmarshal into the request struct.

encoding/json fills the struct first: a key names a field case-insensitively (``"Method"`` is the
method), and a ``jsonrpc`` or ``method`` that is neither a string nor null is a type error
(``json: cannot unmarshal number into Go struct field .method of type string``: the struct is
anonymous, so its name is empty). That error comes before the id is looked at.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from dydx_devnet.cometrpc import gojson

# The anonymous struct RPCRequest.UnmarshalJSON decodes into, as reflect prints its type.
_REQUEST_STRUCT = (
    'struct { JSONRPC string "json:\\"jsonrpc\\""; ID interface {} "json:\\"id,omitempty\\""; '
    'Method string "json:\\"method\\""; Params json.RawMessage "json:\\"params\\"" }'
)


class ParseError(Exception):
    """The request does not unmarshal; str(self) is Go's error text."""


def loads(body: bytes | str, *, stream: bool = False) -> Any:
    """Decode a request as encoding/json does: its syntax check runs first, with Go's error
    texts (`gojson`), so Python's own messages (and its NaN/Infinity) never show. ``stream``:
    as the websocket's json.Decoder reads a message (the first value; the rest is ignored)."""
    data = body.encode() if isinstance(body, str) else body
    try:
        if stream:
            end, error = gojson.first_value(data)
            data = data[:end]
        else:
            error = gojson.syntax_error(data)
    except RecursionError:  # Go's limit is 10000 levels, Python's stack gives out first
        raise ParseError("exceeded max depth") from None
    if error is not None:
        raise ParseError(error)
    try:
        return json.loads(data)
    except ValueError as e:  # not UTF-8: Go would take the bytes; rare enough to name plainly
        raise ParseError(str(e)) from None


def _json_kind(v: Any) -> str:
    """encoding/json's UnmarshalTypeError.Value for a JSON value."""
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    return "array" if isinstance(v, list) else "object"


def _type_error(v: Any) -> ParseError:
    return ParseError(
        f"json: cannot unmarshal {_json_kind(v)} into Go value of type {_REQUEST_STRUCT}"
    )


def go_float(f: float) -> str:
    """fmt's %v of a float64 (strconv 'g' with the shortest digits): %e when the exponent is
    below -4 or at least 6 (the precision `strconv/ftoa.go` uses to decide for the shortest form),
    %f otherwise."""
    if f == 0 or not math.isfinite(f):
        return "0" if f == 0 else str(f)
    sign, digits, exp = Decimal(repr(f)).as_tuple()
    ds = list(digits)
    assert isinstance(exp, int)
    while len(ds) > 1 and ds[-1] == 0:
        ds.pop()
        exp += 1
    s, nd = "".join(map(str, ds)), len(ds)
    dp = nd + exp  # digits before the decimal point
    x = dp - 1
    neg = "-" if sign else ""
    if x < -4 or x >= 6:
        mantissa = s[0] + ("." + s[1:] if nd > 1 else "")
        return f"{neg}{mantissa}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if dp <= 0:
        return f"{neg}0.{'0' * -dp}{s}"
    if dp >= nd:
        return f"{neg}{s}{'0' * (dp - nd)}"
    return f"{neg}{s[:dp]}.{s[dp:]}"


def go_value(v: Any) -> str:
    """fmt's %v of a value encoding/json decoded into an interface{} (maps print sorted)."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return go_float(float(v))
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "[" + " ".join(go_value(x) for x in v) + "]"
    return "map[" + " ".join(f"{k}:{go_value(v[k])}" for k in sorted(v)) + "]"


def _go_type(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    return "[]interface {}" if isinstance(v, list) else "map[string]interface {}"


def _fields(payload: dict[str, Any]) -> dict[str, Any]:
    """The struct's fields as encoding/json fills them: keys fold case (a later key overwrites an
    earlier one; others are ignored), and the first string field given a value that is neither
    a string nor null fails the whole request."""
    fields: dict[str, Any] = {}
    for key, value in payload.items():
        name = key.casefold()
        if name not in ("jsonrpc", "id", "method", "params"):
            continue
        if name in ("jsonrpc", "method") and value is not None and not isinstance(value, str):
            raise ParseError(
                f"json: cannot unmarshal {_json_kind(value)} into Go struct field .{name} "
                "of type string"
            )
        fields[name] = value
    return fields


def single(payload: Any) -> dict[str, Any] | None:
    """One request (its fields as the struct holds them, the id normalised), None for a
    notification; raises ParseError."""
    if payload is None:
        return None  # json null: UnmarshalJSON leaves an empty request (a notification)
    if not isinstance(payload, dict):
        raise _type_error(payload)
    payload = _fields(payload)
    rid = payload.get("id")
    if rid is None:
        return None
    if isinstance(rid, bool) or not isinstance(rid, str | int | float):
        raise ParseError(f"json-rpc ID ({go_value(rid)}) is of unknown type ({_go_type(rid)})")
    if isinstance(rid, float):
        rid = int(rid)  # JSONRPCIntID(int(id)): truncated
    return {**payload, "id": rid}


def requests(payload: Any) -> list[dict[str, Any]]:
    """The requests of an HTTP body that answer (notifications dropped); raises ParseError."""
    if isinstance(payload, list):
        try:
            return [r for r in map(single, payload) if r is not None]
        except ParseError:
            pass  # then as one request: an array is not a request
    one = single(payload)
    return [] if one is None else [one]
