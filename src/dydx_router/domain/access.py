"""Who may do what: API keys (only a SHA-256 digest of each is stored; the key itself is shown
once at creation), their scopes, and the actor and entries of the audit log of admin actions."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

KEY_PREFIX = "dxr_"
# ``orders:all``: read and cancel every order of the key's subaccounts, not only its own.
ORDERS_ALL = "orders:all"
SCOPES = frozenset({"read", "trade", "admin", ORDERS_ALL})


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: uuid.UUID
    name: str
    key_prefix: str
    scopes: frozenset[str]
    subaccounts: frozenset[int] | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows_subaccount(self, number: int) -> bool:
        return self.subaccounts is None or number in self.subaccounts


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performed an admin action: an API key, or the host's command line."""

    key_id: uuid.UUID | None
    name: str

    @classmethod
    def cli(cls) -> Actor:
        return cls(None, "cli")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor_key_id: uuid.UUID | None
    actor: str
    action: str
    target: str | None
    details: dict[str, Any]
