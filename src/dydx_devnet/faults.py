"""Fault injection switches consulted by the devnet's servers.

All switches are off by default. The admin API (``/devnet/faults``) and tests flip them at run time;
servers read them on every request, so a change takes effect immediately.

- ``grpc_latency_s``: delay added before every gRPC answer.
- ``grpc_unavailable``: every gRPC call fails with UNAVAILABLE (a node that refuses service).
- ``broadcast_error``: BroadcastTx answers this (codespace, code, raw_log) instead of running
  CheckTx (a chosen chain rejection).
- ``block_stall``: the block loop produces no blocks (height stops advancing).
- ``indexer_lag_blocks``: for the indexer, how many blocks it should lag behind the chain.
- ``indexer_latency_s`` / ``indexer_unavailable``: for the indexer's HTTP/websocket servers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(slots=True)
class BroadcastError:
    codespace: str
    code: int
    raw_log: str


@dataclass(slots=True)
class Faults:
    grpc_latency_s: float = 0.0
    grpc_unavailable: bool = False
    broadcast_error: BroadcastError | None = None
    block_stall: bool = False
    indexer_lag_blocks: int = 0
    indexer_latency_s: float = 0.0
    indexer_unavailable: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, values: dict[str, Any]) -> None:
        """Set the named switches; unknown names raise KeyError, bad types TypeError/ValueError."""
        names = {f.name: f for f in fields(self)}
        for key, value in values.items():
            if key not in names:
                raise KeyError(key)
            current = getattr(self, key)
            if key == "broadcast_error":
                setattr(self, key, None if value is None else BroadcastError(**value))
            elif isinstance(current, bool):
                if not isinstance(value, bool):
                    raise TypeError(f"{key} must be a boolean")
                setattr(self, key, value)
            elif isinstance(current, int):
                setattr(self, key, int(value))
            else:
                setattr(self, key, float(value))

    def reset(self) -> None:
        for f in fields(self):
            setattr(self, f.name, Faults.__dataclass_fields__[f.name].default)
