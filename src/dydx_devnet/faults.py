"""Fault injection switches consulted by the devnet's servers.

All switches are off by default. The admin API (``/devnet/faults``) and tests flip them at run time;
servers read them on every request, so a change takes effect immediately.

- ``grpc_latency_s``: delay added before every gRPC answer.
- ``grpc_unavailable``: every gRPC call fails with UNAVAILABLE (a node that refuses service).
- ``grpc_error``: ``{"status", "message"?, "times"?}``: gRPC calls fail with that status code
  (e.g. ``RESOURCE_EXHAUSTED``, the answer of a throttling public node).
- ``grpc_refuse_connections``: the gRPC port is closed (connections are refused, open ones are
  cut) until the switch is turned off again: a node process that is down, not just sick.
- ``broadcast_unavailable``: BroadcastTx alone fails with UNAVAILABLE, without running CheckTx,
  while queries keep working (the broadcast path is cut; nothing reaches the mempool).
- ``broadcast_error``: ``{"codespace", "code", "raw_log", "times"?}``: BroadcastTx answers this
  instead of running CheckTx (a chosen chain rejection, e.g. sdk/32).
- ``broadcast_reply_lost``: ``true`` or ``{"times": n}``: BroadcastTx runs CheckTx and the
  validator keeps the tx (mempool, gossip, the next block), but the caller gets UNAVAILABLE, as
  when the reply is lost on the network.
- ``block_stall``: the block loop produces no blocks (height stops advancing).
- ``indexer_lag_blocks``: for the indexer, how many blocks it should lag behind the chain.
- ``indexer_latency_s`` / ``indexer_unavailable``: for the indexer's HTTP/websocket servers.
- ``indexer_ws_subscribe_error``: the next n ``v4_subaccounts`` subscriptions (n < 0: all, until
  cleared) are answered with socks' ``error`` message (``Internal error, could not fetch data for
  subscription: v4_subaccounts.``, with the channel and id) instead of their snapshot, as socks
  answers when its initial fetch from comlink fails (``socks/src/lib/subscription.ts``).

Node switches (``grpc_*``, ``broadcast_*``) are per validator: the devnet keeps one `Faults` per
validator and one for the rest (``block_stall``, ``indexer_*``); ``POST /devnet/faults`` sets a
validator's (``?validator=i``) or every validator's.

``times`` (default 0 = until cleared) makes an error switch fire for that many calls and then
turn itself off, so a test can inject one failure and watch the client recover from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import grpc


@dataclass(slots=True)
class BroadcastError:
    codespace: str
    code: int
    raw_log: str
    times: int = 0


@dataclass(slots=True)
class Times:
    times: int = 0

    def __post_init__(self) -> None:
        if self.times < 0:
            raise ValueError("times must be >= 0")


NODE_SWITCHES = frozenset(
    {
        "grpc_latency_s",
        "grpc_unavailable",
        "grpc_error",
        "grpc_refuse_connections",
        "broadcast_unavailable",
        "broadcast_error",
        "broadcast_reply_lost",
    }
)


@dataclass(slots=True)
class GrpcError:
    status: str
    message: str = "devnet fault"
    times: int = 0

    def __post_init__(self) -> None:
        if self.status not in grpc.StatusCode.__members__ or self.status == "OK":
            raise ValueError(f"unknown gRPC status {self.status!r}")
        if self.times < 0:
            raise ValueError("times must be >= 0")

    @property
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode[self.status]


@dataclass(slots=True)
class Faults:
    grpc_latency_s: float = 0.0
    grpc_unavailable: bool = False
    grpc_error: GrpcError | None = None
    grpc_refuse_connections: bool = False
    broadcast_unavailable: bool = False
    broadcast_error: BroadcastError | None = None
    broadcast_reply_lost: Times | None = None
    block_stall: bool = False
    indexer_lag_blocks: int = 0
    indexer_latency_s: float = 0.0
    indexer_unavailable: bool = False
    indexer_ws_subscribe_error: int = 0

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
            elif key == "broadcast_reply_lost":
                setattr(self, key, _times(value))
            elif key == "grpc_error":
                setattr(self, key, None if value is None else GrpcError(**value))
            elif isinstance(current, bool):
                if not isinstance(value, bool):
                    raise TypeError(f"{key} must be a boolean")
                setattr(self, key, value)
            elif isinstance(current, int):
                setattr(self, key, int(value))
            else:
                setattr(self, key, float(value))

    def take_broadcast_error(self) -> BroadcastError | None:
        """The broadcast error for this call, counting it down if it is limited."""
        fault = self.broadcast_error
        if fault is not None and fault.times:
            fault.times -= 1
            if fault.times == 0:
                self.broadcast_error = None
        return fault

    def take_reply_lost(self) -> bool:
        """Whether this call's reply is lost, counting it down if it is limited."""
        fault = self.broadcast_reply_lost
        if fault is None:
            return False
        if fault.times:
            fault.times -= 1
            if fault.times == 0:
                self.broadcast_reply_lost = None
        return True

    def take_grpc_error(self) -> GrpcError | None:
        """The gRPC error for this call, counting it down if it is limited."""
        fault = self.grpc_error
        if fault is not None and fault.times:
            fault.times -= 1
            if fault.times == 0:
                self.grpc_error = None
        return fault

    def take_ws_subscribe_error(self) -> bool:
        """Whether this v4_subaccounts subscription is refused, counting the switch down."""
        left = self.indexer_ws_subscribe_error
        if left > 0:
            self.indexer_ws_subscribe_error = left - 1
        return left != 0

    def reset(self) -> None:
        for f in fields(self):
            setattr(self, f.name, Faults.__dataclass_fields__[f.name].default)


def _times(value: Any) -> Times | None:
    """``true`` (until cleared), ``false``/``null`` (off) or ``{"times": n}``."""
    if value is None or value is False:
        return None
    if value is True:
        return Times()
    if isinstance(value, dict):
        return Times(**value)
    raise TypeError('expected true, false or {"times": n}')
