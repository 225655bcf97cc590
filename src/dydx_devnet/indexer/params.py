"""Request checking and error answers of the indexer's REST API, as comlink does them.

express-validator failures are HTTP 400 `{"errors": [{"type": "field", "value", "msg", "path",
"location"}]}` (`request-helpers/error-handler.ts`, `lib/validation/schemas.ts`); `NotFoundError`
is 404 `{"errors": [{"msg"}]}` (`lib/helpers.ts`, `create4xxResponse`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dydx_devnet.indexer.fmt import parse_iso_ms

# `comlink/src/config.ts`
API_LIMIT_V4 = 1000
API_ORDERBOOK_LEVELS_PER_SIDE_LIMIT = 100
# `MAX_PARENT_SUBACCOUNTS * CHILD_SUBACCOUNT_MULTIPLIER` (`postgres/src/constants.ts`).
MAX_SUBACCOUNT_NUMBER = 128_000
ORDER_TYPES = (
    "LIMIT", "MARKET", "STOP_LIMIT", "STOP_MARKET", "TRAILING_STOP", "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET", "TWAP", "TWAP_SUBORDER",
)  # fmt: skip
POSITION_STATUSES = ("OPEN", "CLOSED", "LIQUIDATED")
ADDRESS = re.compile(r"^[a-zA-Z0-9]{1,90}$")  # `isValidAddress`: alphanumeric, <= 90 chars


# ---- responses and errors --------------------------------------------------------------------
def json_response(body: Any, status: int = 200) -> Response:
    data = json.dumps(body, separators=(",", ":")).encode()
    return Response(data, status_code=status, media_type="application/json; charset=utf-8")


class ApiError(Exception):
    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["msg"] if errors else "")
        self.status = status
        self.errors = errors


def not_found(msg: str) -> ApiError:
    return ApiError(404, [{"msg": msg}])


def bad_request(msg: str) -> ApiError:
    return ApiError(400, [{"msg": msg}])


class Params:
    """express-validator style checks over path and query parameters; every failure is kept,
    and `done()` raises one 400 with all of them."""

    def __init__(self, request: Request) -> None:
        self.path = request.path_params
        self.query = request.query_params
        self.errors: list[dict[str, Any]] = []

    def _raw(self, name: str) -> tuple[str | None, str]:
        if name in self.path:
            return str(self.path[name]), "params"
        return self.query.get(name), "query"

    def _fail(self, name: str, value: Any, msg: str, location: str) -> None:
        self.errors.append(
            {"type": "field", "value": value, "msg": msg, "path": name, "location": location}
        )

    def done(self) -> None:
        if self.errors:
            raise ApiError(400, self.errors)

    def address(self, name: str = "address") -> str:
        raw, loc = self._raw(name)
        if raw is None or not ADDRESS.match(raw):
            self._fail(name, raw, "address must be a valid dydx address", loc)
            return ""
        return raw

    def integer(
        self, name: str, msg: str, *, minimum: int, maximum: int | None = None,
        required: bool = False,
    ) -> int | None:  # fmt: skip
        raw, loc = self._raw(name)
        if raw is None:
            if required:
                self._fail(name, raw, msg, loc)
            return None
        try:
            value = int(raw)
        except ValueError:
            self._fail(name, raw, msg, loc)
            return None
        if value < minimum or (maximum is not None and value > maximum):
            self._fail(name, raw, msg, loc)
            return None
        return value

    def subaccount_number(self, name: str = "subaccountNumber") -> int:
        n = self.integer(
            name,
            f"{name} must be a non-negative integer less than {MAX_SUBACCOUNT_NUMBER + 1}",
            minimum=0,
            maximum=MAX_SUBACCOUNT_NUMBER,
            required=True,
        )
        return 0 if n is None else n

    def height(self, name: str) -> int | None:
        """An optional block height filter (`createdBeforeOrAtHeight`, ...)."""
        return self.integer(name, f"{name} must be a non-negative integer", minimum=0)

    def page(self) -> int | None:
        return self.integer("page", "page must be a non-negative integer", minimum=1)

    def limit(self) -> int:
        msg = f"limit must be a positive integer that is not greater than max: {API_LIMIT_V4}"
        n = self.integer("limit", msg, minimum=1, maximum=API_LIMIT_V4)
        return API_LIMIT_V4 if n is None else n

    def choice(self, name: str, allowed: Iterable[str], msg: str) -> str | None:
        raw, loc = self._raw(name)
        if raw is None:
            return None
        if raw not in allowed:
            self._fail(name, raw, msg, loc)
            return None
        return raw

    def choices(self, name: str, allowed: Iterable[str], msg: str) -> list[str] | None:
        """A list parameter: repeated (`status=A&status=B`) or comma-separated
        (`sanitizeArray`, `request-helpers/sanitizers.ts`)."""
        raws = self.query.getlist(name)
        if not raws:
            return None
        values = [v for raw in raws for v in raw.split(",") if v != ""]
        allowed = set(allowed)
        if any(v not in allowed for v in values):
            self._fail(name, raws if len(raws) > 1 else raws[0], msg, "query")
            return None
        return values

    def iso(self, name: str) -> int | None:
        raw, loc = self._raw(name)
        if raw is None:
            return None
        try:
            return parse_iso_ms(raw)
        except ValueError:
            self._fail(name, raw, "Invalid value", loc)
            return None

    def boolean(self, name: str) -> bool | None:
        raw, loc = self._raw(name)
        if raw is None:
            return None
        if raw not in ("true", "false"):
            self._fail(name, raw, "Invalid value", loc)
            return None
        return raw == "true"


def faucet_errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    errors = []

    def fail(name: str, msg: str) -> None:
        value = body.get(name)
        if isinstance(value, Decimal):  # parsed with parse_float=Decimal; echo it as sent
            value = str(value)
        errors.append(
            {"type": "field", "value": value, "msg": msg, "path": name, "location": "body"}
        )

    address = body.get("address")
    if (
        not isinstance(address, str)
        or not address.startswith("dydx1")
        or not ADDRESS.match(address)
    ):
        fail("address", "address must be a valid dydx address")
    number = body.get("subaccountNumber")
    if (
        isinstance(number, bool)
        or not isinstance(number, int)
        or not 0 <= number <= MAX_SUBACCOUNT_NUMBER
    ):
        fail(
            "subaccountNumber",
            "subaccountNumber must be a non-negative integer less than "
            f"{MAX_SUBACCOUNT_NUMBER + 1}",
        )
    amount = body.get("amount")
    try:
        value = (
            Decimal(amount)
            if isinstance(amount, int | Decimal) and not isinstance(amount, bool)
            else None
        )
    except InvalidOperation:
        value = None
    # USDC has 6 decimals: a finer amount cannot be credited exactly.
    if (
        value is None
        or not value.is_finite()
        or value <= 0
        or value != value.quantize(Decimal("0.000001"))
    ):
        fail("amount", "amount must be a positive number of USDC with at most 6 decimals")
    return errors


def guard(
    fn: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """The route as a handler that answers an `ApiError` with its status and errors."""

    async def handler(request: Request) -> Response:
        try:
            return await fn(request)
        except ApiError as e:
            return json_response({"errors": e.errors}, e.status)

    return handler


async def http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    return json_response({"errors": [{"msg": getattr(exc, "detail", "error")}]}, status)
