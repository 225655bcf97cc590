"""How the devnet's CometBFT RPC reads a request's envelope (`dydx_devnet.cometrpc.envelope`):
ids as `rpc/jsonrpc/types/types.go` idFromInterface takes them, and Go's `%v` of the ones it
refuses, which the parse error quotes."""

from __future__ import annotations

import pytest

from dydx_devnet.cometrpc import envelope
from dydx_devnet.cometrpc.envelope import ParseError, go_value, requests, single


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (1, "1"),
        (2.5, "2.5"),
        (-2.5, "-2.5"),
        (123456, "123456"),
        (1e6, "1e+06"),  # strconv 'g', shortest: %e from exponent 6 on
        (1234567, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1e21, "1e+21"),
        ("x", "x"),
        (True, "true"),
        (None, "<nil>"),
        ([1, "a", [False]], "[1 a [false]]"),
        ({"b": 1, "a": {"c": None}}, "map[a:map[c:<nil>] b:1]"),  # keys sorted
    ],
)
def test_go_value_prints_as_fmt_v(value: object, printed: str) -> None:
    assert go_value(value) == printed


def test_ids() -> None:
    assert single({"id": "a", "method": "health"}) == {"id": "a", "method": "health"}
    assert single({"id": 2.9}) == {"id": 2}  # JSONRPCIntID(int(id))
    assert single({"id": None}) is None and single({"method": "health"}) is None
    assert single(None) is None
    with pytest.raises(ParseError, match=r"^json-rpc ID \(\[1\]\) is of unknown type"):
        single({"id": [1]})
    # a batch with one bad request: the array, read as one request, is what fails
    with pytest.raises(ParseError, match=r"^json: cannot unmarshal array into Go value of type"):
        requests([{"id": 1}, {"id": {}}])
    assert requests([{"id": 1}, {"method": "x"}, None]) == [{"id": 1}]
    assert requests([]) == [] and requests(None) == []
    with pytest.raises(ParseError, match=r"^json: cannot unmarshal string into Go value"):
        requests("x")


def test_fields_fill_as_encoding_json_fills_the_struct() -> None:
    # keys fold case; keys that name no field are dropped
    assert single({"ID": 1, "Method": "health", "extra": 1}) == {"id": 1, "method": "health"}
    assert single({"id": 1, "method": None, "params": 5}) == {"id": 1, "method": None, "params": 5}
    with pytest.raises(ParseError) as exc:
        single({"id": 1, "method": 7})
    assert str(exc.value) == (
        "json: cannot unmarshal number into Go struct field .method of type string"
    )
    with pytest.raises(ParseError, match=r"^json: cannot unmarshal bool into Go struct field "):
        single({"jsonrpc": True, "method": "health"})  # a notification, but it fails to decode
    # the type error comes before the id is looked at
    with pytest.raises(ParseError, match=r"array into Go struct field \.jsonrpc of type string$"):
        single({"jsonrpc": [], "id": {}})


@pytest.mark.parametrize(
    ("body", "go_error"),
    [
        # encoding/json scanner.go messages, as json.Unmarshal reports them
        (b"", "unexpected end of JSON input"),
        (b"get", "invalid character 'g' looking for beginning of value"),
        (b'{"id": 1', "unexpected end of JSON input"),
        (b"{not json", "invalid character 'n' looking for beginning of object key string"),
        (b'{"id" 1}', "invalid character '1' after object key"),
        (b'{"id": 1 "m"}', "invalid character '\"' after object key:value pair"),
        (b"[1 2]", "invalid character '2' after array element"),
        (b"{} x", "invalid character 'x' after top-level value"),
        (b"[tru]", "invalid character ']' in literal true (expecting 'e')"),
        (b"NaN", "invalid character 'N' looking for beginning of value"),
        (b"-x", "invalid character 'x' in numeric literal"),
        (b"1.e5", "invalid character 'e' after decimal point in numeric literal"),
        (b'"a\nb"', "invalid character '\\n' in string literal"),
        (b'"\\q"', "invalid character 'q' in string escape code"),
        (b"{'id': 1}", "invalid character '\\'' looking for beginning of object key string"),
    ],
)
def test_json_syntax_errors_read_as_go_prints_them(body: bytes, go_error: str) -> None:
    with pytest.raises(envelope.ParseError) as e:
        envelope.loads(body)
    assert str(e.value) == go_error


def test_valid_json_decodes() -> None:
    assert envelope.loads(b' {"id": -1.5e3, "a": [true, null, "\\u00e9"]} ') == {
        "id": -1500.0,
        "a": [True, None, "é"],
    }


@pytest.mark.parametrize(
    ("message", "go_error"),
    [
        # the websocket's json.Decoder: io.EOF, io.ErrUnexpectedEOF, the scanner's texts
        (b"", "EOF"),
        (b'{"id": 1', "unexpected EOF"),
        (b"get", "invalid character 'g' looking for beginning of value"),
    ],
)
def test_websocket_messages_decode_as_a_stream(message: bytes, go_error: str) -> None:
    with pytest.raises(envelope.ParseError) as e:
        envelope.loads(message, stream=True)
    assert str(e.value) == go_error
    # what follows the first value is not read
    assert envelope.loads(b'{"id": 1} trailing', stream=True) == {"id": 1}
