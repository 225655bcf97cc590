"""API-key authentication and scopes: ``Authorization: Bearer <key>``.

Only SHA-256 digests of keys are stored (``store/api_keys.py``). Successful look-ups are cached for
a second, so revocation takes effect within a second on every replica without a database round
trip on each request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dydx_router.api.errors import ApiError
from dydx_router.service.orders import Caller
from dydx_router.store.api_keys import ApiKey, ApiKeyRepository, hash_key

CACHE_TTL_S = 1.0
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer dxr_...`")


class KeyCache:
    def __init__(self) -> None:
        self._entries: dict[bytes, tuple[float, ApiKey | None]] = {}

    async def lookup(self, pool: object, key: str) -> ApiKey | None:
        digest = hash_key(key)
        now = time.monotonic()
        hit = self._entries.get(digest)
        if hit is not None and now - hit[0] < CACHE_TTL_S:
            return hit[1]
        async with pool.acquire() as conn:  # type: ignore[attr-defined]
            found = await ApiKeyRepository(conn).authenticate(key)
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[digest] = (now, found)
        return found


def require(scope: str) -> Callable[..., Awaitable[Caller]]:
    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiError(
                401,
                "unauthenticated",
                "an API key is required: Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        container = request.app.state.container
        key = await container.key_cache.lookup(container.pool, credentials.credentials)
        if key is None:
            raise ApiError(
                401,
                "invalid_api_key",
                "the API key is unknown or revoked",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if scope not in key.scopes:
            raise ApiError(
                403,
                "insufficient_scope",
                f"this API key lacks the '{scope}' scope",
                required_scope=scope,
            )
        request.state.api_key = key
        return Caller(api_key_id=key.id, subaccounts=key.subaccounts)

    return dependency


ReadCaller = Annotated[Caller, Depends(require("read"))]
TradeCaller = Annotated[Caller, Depends(require("trade"))]
AdminCaller = Annotated[Caller, Depends(require("admin"))]
