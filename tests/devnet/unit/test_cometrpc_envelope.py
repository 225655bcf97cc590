"""How the devnet's CometBFT RPC reads a request's envelope (`dydx_devnet.cometrpc.envelope`):
ids as `rpc/jsonrpc/types/types.go` idFromInterface takes them, and Go's `%v` of the ones it
refuses, which the parse error quotes."""

from __future__ import annotations

import pytest

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
