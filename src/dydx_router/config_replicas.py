"""The settings of several replicas on one database (docs/scaling.md), apart so config.py stays
small; ``config.Settings`` inherits them."""

from __future__ import annotations

import os
import socket
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ReplicaSettings(BaseSettings):
    model_config = SettingsConfigDict(use_attribute_docstrings=True)

    sequence_mode: Literal["timestamp_nonce", "account_sequence"] = "timestamp_nonce"
    """How stateful txs are sequenced. timestamp_nonce (x/accountplus): each tx carries a unix-ms
    nonce, no shared counter, safe for any number of replicas. account_sequence: the account
    sequence, one replica at a time under a lease in PostgreSQL. A permissioned key always uses
    timestamp nonces."""
    replica_id: str = Field(default="", max_length=200)
    """This replica's name in leases (empty: host name and process id)."""
    nonce_stride: int = Field(default=16, ge=1, le=1000)
    """Timestamp nonces: each replica uses only the milliseconds of its own residue modulo
    this, so replicas rarely pick the same nonce (1: every millisecond)."""
    worker_lease_ttl_s: float = Field(default=3.0, ge=0.5, le=60)
    """The status stream, follower and reconciler run on the replica holding their lease; a
    dead holder's lease is taken over this long after its last renewal."""
    shared_rate_limits: Literal["postgres", "memory"] = "postgres"
    """Where the per-key API rate-limit buckets and the chain's block-rate counts live:
    postgres (shared by every replica) or memory (per replica: N replicas allow up to N times
    the rate; then set chain_rate_limit_share to 1/N)."""

    def effective_replica_id(self) -> str:
        return self.replica_id or f"{socket.gethostname()}:{os.getpid()}"
