"""API-key authentication, scopes and per-key rate limits: ``Authorization: Bearer <key>``.

Only SHA-256 digests of keys are stored (``store/api_keys.py``). Look-ups are cached for a second
(``store/key_cache.py``, the container's ``key_cache``), so a request costs no database round trip;
a revocation clears the cache of the replica that made it at once and of every other replica on
PostgreSQL's notification (``store/notify.py``), with the one-second expiry as a backstop.

Every route but the probes depends on ``require(scope)``: 401 without a valid key, 403 without the
scope, 429 when the key's bucket for the route class (= the scope) is empty (``api/ratelimit.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dydx_router.api.deps import Services, ServicesDep
from dydx_router.api.errors import ApiError
from dydx_router.api.ratelimit import retry_after
from dydx_router.domain.access import ORDERS_ALL, ApiKey
from dydx_router.service.orders import Caller

# The rate-limiter class of failed authentications, counted per client address.
AUTH_FAILURES = "auth_failures"
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer dxr_...`")


def _unauthenticated(code: str, message: str) -> ApiError:
    return ApiError(401, code, message, headers={"WWW-Authenticate": "Bearer"})


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None (as ``HTTPBearer``
    with ``auto_error=False`` reads it)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def require_token(token: str | None) -> str:
    """``token``, or the 401 of a request without a key (before any service is looked at)."""
    if token is None:
        raise _unauthenticated(
            "unauthenticated", "an API key is required: Authorization: Bearer <key>"
        )
    return token


async def authenticate(request: Request, token: str, scope: str, services: Services) -> Caller:
    """The caller behind ``token``, or the 401/403/429 ``ApiError`` the request gets."""
    limiter = services.rate_limiter
    client = request.client.host if request.client else "unknown"
    if limiter.would_wait(client, AUTH_FAILURES) and not services.key_cache.cached(token):
        raise ApiError(
            429,
            "too_many_auth_failures",
            "too many requests with invalid API keys from this address; retry later",
            headers={"Retry-After": retry_after(limiter.take(client, AUTH_FAILURES))},
        )
    key = await services.key_cache.lookup(services.pool, token)
    if key is None:
        limiter.take(client, AUTH_FAILURES)
        raise _unauthenticated("invalid_api_key", "the API key is unknown or revoked")
    if scope not in key.scopes:
        raise ApiError(
            403,
            "insufficient_scope",
            f"this API key lacks the '{scope}' scope",
            required_scope=scope,
        )
    wait = await limiter.acquire(key.id, scope)
    if wait > 0:
        raise ApiError(
            429,
            "rate_limited",
            f"this API key is over its '{scope}' request rate; retry later",
            headers={"Retry-After": retry_after(wait)},
            route_class=scope,
        )
    request.state.api_key = key
    return caller_of(key)


def caller_of(key: ApiKey) -> Caller:
    """What a key reaches: its subaccounts, and every order in them only with ``orders:all``
    or as an unrestricted admin; otherwise the orders it placed itself."""
    everything = ORDERS_ALL in key.scopes or ("admin" in key.scopes and key.subaccounts is None)
    return Caller(api_key_id=key.id, subaccounts=key.subaccounts, all_orders=everything)


def require(scope: str) -> Callable[..., Awaitable[Caller]]:
    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        services: ServicesDep,
    ) -> Caller:
        token = None
        if credentials is not None and credentials.scheme.lower() == "bearer":
            token = credentials.credentials
        return await authenticate(request, require_token(token), scope, services)

    return dependency


ReadCaller = Annotated[Caller, Depends(require("read"))]
# Named: api/fastpath.py resolves it itself and checks place_order depends on nothing else.
require_trade = require("trade")
TradeCaller = Annotated[Caller, Depends(require_trade)]
AdminCaller = Annotated[Caller, Depends(require("admin"))]
