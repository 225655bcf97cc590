"""API keys: only a SHA-256 of each key is stored; the key itself is shown once at creation."""

from __future__ import annotations

import secrets
import uuid

import asyncpg

from dydx_router.domain.access import KEY_PREFIX, SCOPES, ApiKey, hash_key
from dydx_router.domain.errors import ApiKeyNotFound, InvalidApiKeySpec
from dydx_router.store.notify import TOPIC_API_KEYS, notify


def generate_key() -> str:
    """256 bits from the OS CSPRNG, URL-safe, with a recognisable prefix for secret scanners."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _from_row(row: asyncpg.Record) -> ApiKey:
    subs = row["subaccounts"]
    return ApiKey(
        id=row["id"],
        name=row["name"],
        key_prefix=row["key_prefix"],
        scopes=frozenset(row["scopes"]),
        subaccounts=None if subs is None else frozenset(subs),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


_SELECT = "SELECT id, name, key_prefix, scopes, subaccounts, created_at, revoked_at FROM api_keys"


class ApiKeyRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def create(
        self, name: str, scopes: set[str], subaccounts: set[int] | None = None
    ) -> tuple[ApiKey, str]:
        """Store a new key; returns it with the plaintext key (never stored, shown once)."""
        if not name.strip():
            raise InvalidApiKeySpec("name must not be empty")
        unknown = set(scopes) - SCOPES
        if not scopes or unknown:
            raise InvalidApiKeySpec(
                f"scopes must be a non-empty subset of {sorted(SCOPES)}", unknown=sorted(unknown)
            )
        key = generate_key()
        row = await self._conn.fetchrow(
            "INSERT INTO api_keys (id, name, key_hash, key_prefix, scopes, subaccounts) "
            "VALUES ($1, $2, $3, $4, $5, $6) "
            "RETURNING id, name, key_prefix, scopes, subaccounts, created_at, revoked_at",
            uuid.uuid4(),
            name.strip(),
            hash_key(key),
            key[: len(KEY_PREFIX) + 6],
            sorted(scopes),
            None if subaccounts is None else sorted(subaccounts),
        )
        return _from_row(row), key

    async def authenticate(self, key: str) -> ApiKey | None:
        """The active key matching ``key``, or None.

        The lookup is by SHA-256 digest, so timing reveals nothing about the stored keys; the
        final comparison is constant-time as well.
        """
        digest = hash_key(key)
        row = await self._conn.fetchrow(
            "SELECT id, name, key_prefix, scopes, subaccounts, created_at, revoked_at, key_hash "
            "FROM api_keys WHERE key_hash = $1",
            digest,
        )
        if row is None or not secrets.compare_digest(bytes(row["key_hash"]), digest):
            return None
        api_key = _from_row(row)
        return api_key if api_key.active else None

    async def list_all(self) -> list[ApiKey]:
        return [_from_row(r) for r in await self._conn.fetch(_SELECT + " ORDER BY created_at")]

    async def revoke(self, key_id: uuid.UUID) -> ApiKey:
        row = await self._conn.fetchrow(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 "
            "RETURNING id, name, key_prefix, scopes, subaccounts, created_at, revoked_at",
            key_id,
        )
        if row is None:
            raise ApiKeyNotFound(f"api key {key_id} not found", key_id=str(key_id))
        # Every replica drops its cached look-ups at commit (api/auth.py).
        await notify(self._conn, TOPIC_API_KEYS)
        return _from_row(row)
