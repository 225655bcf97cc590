"""The node's gRPC transport: unary calls, gRPC over HTTP/2, on the `h2` protocol state machine.

The wire is gRPC's (grpc/grpc `doc/PROTOCOL-HTTP2.md`): a POST to ``/package.Service/Method`` with
``content-type: application/grpc``, one length-prefixed message each way (a compressed flag byte,
a 4-byte big-endian length), and the outcome in trailers (``grpc-status``, ``grpc-message``
percent-encoded), or in the headers alone when there is no message ("Trailers-Only").

Why not grpc.aio's server: measured on a 2-core machine at ~900 unary calls/s with a grpcio client,
grpc.aio spent ~300-350 µs of CPU per call (its call path on the event loop plus the core's event
engine threads, woken for every call) against ~230-270 µs here (responses of one loop turn go
out in one write). The node shares the cores with the router in every benchmark, so this is CPU
the system under test gets back.

Servicers are added exactly as to a grpc server (``add_XServicer_to_server(servicer, server)``),
and each call gets a context with the `grpc.aio.ServicerContext` methods servicers use (``abort``,
``set_code``, ``set_details``, ``invocation_metadata``, ``peer``). A method may also be a plain
function (as generated code's "not implemented" ones are); a task is created only for a method
that returns an awaitable. Only unary-unary methods are served: the node has no streaming ones.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, cast

import grpc
import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from hyperframe.frame import GoAwayFrame

# Inbound flow-control window of the connection and of each stream: requests are acknowledged as
# they arrive, so this only bounds how much one client may have in flight unread.
_WINDOW = 4 * 1024 * 1024
# grpc servers allow unlimited concurrent streams by default; a bound keeps one client's burst
# from holding unbounded state here.
_MAX_STREAMS = 10_000
# grpc's default limit on a received message (GRPC_DEFAULT_MAX_RECV_MESSAGE_LENGTH).
MAX_MESSAGE = 4 * 1024 * 1024

_CONFIG = h2.config.H2Configuration(
    client_side=False,
    header_encoding=None,  # bytes in, bytes out: no per-header decoding
    # Our own headers are built right below; validating them again on every call costs CPU only.
    validate_outbound_headers=False,
    normalize_outbound_headers=False,
)
_OK_HEADERS = ((b":status", b"200"), (b"content-type", b"application/grpc"))
_OK_TRAILERS = ((b"grpc-status", b"0"),)
_ACCEPT_ENCODING = b"identity,deflate,gzip"
# What a message's compressed flag means per grpc-encoding: the zlib wbits that decode it.
_DECODERS = {b"gzip": 16 + zlib.MAX_WBITS, b"deflate": zlib.MAX_WBITS}


class _Abort(Exception):
    """A servicer's ``context.abort``: the call ends with this status."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def percent_encode(text: str) -> bytes:
    """``grpc-message``: UTF-8, with every byte outside 0x20-0x7E and ``%`` as ``%XX``."""
    out = bytearray()
    for b in text.encode():
        if 0x20 <= b <= 0x7E and b != 0x25:
            out.append(b)
        else:
            out += b"%%%02X" % b
    return bytes(out)


class ServicerContext:
    """The part of `grpc.aio.ServicerContext` that servicers use."""

    __slots__ = ("_headers", "_peer", "code", "details")

    def __init__(self, headers: Sequence[tuple[bytes, bytes]], peer: str) -> None:
        self._headers = headers
        self._peer = peer
        self.code: grpc.StatusCode | None = None
        self.details = ""

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()
    ) -> NoReturn:
        raise _Abort(code, details)

    def set_code(self, code: grpc.StatusCode) -> None:
        self.code = code

    def set_details(self, details: str) -> None:
        self.details = details

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        """The request's custom metadata (no pseudo-headers, none of gRPC's reserved ones)."""
        out: list[tuple[str, str | bytes]] = []
        for name, value in self._headers:
            if name.startswith((b":", b"grpc-")) or name in (b"te", b"content-type"):
                continue
            key = name.decode()
            if key.endswith("-bin"):  # binary values travel base64-encoded, unpadded
                out.append((key, base64.b64decode(value + b"=" * (-len(value) % 4))))
            else:
                out.append((key, value.decode()))
        return tuple(out)

    def peer(self) -> str:
        return self._peer


@dataclass(frozen=True, slots=True)
class _Method:
    behavior: Callable[[Any, ServicerContext], Any]
    deserialize: Callable[[bytes], Any]
    serialize: Callable[[Any], bytes]


class _CallDetails(grpc.HandlerCallDetails):  # type: ignore[misc]
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


class GrpcServer:
    """A gRPC server for unary methods on the running event loop."""

    def __init__(self) -> None:
        self._handlers: list[grpc.GenericRpcHandler] = []
        self._methods: dict[bytes, _Method | None] = {}
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()

    # -- registration, as on grpc.Server / grpc.aio.Server ------------------------------------

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._handlers.extend(handlers)
        self._methods.clear()

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        """Generated code registers each method twice; the generic handlers already serve them."""

    def method(self, path: bytes) -> _Method | None:
        """The unary method served at ``path`` (``/package.Service/Method``), or None."""
        try:
            return self._methods[path]
        except KeyError:
            pass
        found: _Method | None = None
        details = _CallDetails(path.decode(errors="replace"))
        for h in self._handlers:
            handler = h.service(details)
            if handler is not None:
                if handler.unary_unary is not None:
                    found = _Method(
                        handler.unary_unary,
                        handler.request_deserializer or bytes,
                        handler.response_serializer or bytes,
                    )
                break
        if len(self._methods) < 4096:  # unknown paths are remembered too, within reason
            self._methods[path] = found
        return found

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0: any free port); returns the port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), host, port, reuse_address=True
        )
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def stop(self, grace: float | None = None) -> None:
        """Stop listening, tell clients to go away (GOAWAY), give calls in flight up to ``grace``
        seconds, then close every connection."""
        if self._server is not None:
            self._server.close()
        conns = list(self._connections)
        for c in conns:
            c.go_away()
        in_flight = [t for c in conns for t in c.in_flight()]
        if grace and in_flight:
            await asyncio.wait(in_flight, timeout=grace)
        for c in conns:
            c.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


@dataclass(slots=True)
class _Incoming:
    headers: list[tuple[bytes, bytes]]
    body: bytearray


class _Connection(asyncio.Protocol):
    """One client connection: HTTP/2 frames in, calls dispatched, responses out."""

    def __init__(self, server: GrpcServer) -> None:
        self._server = server
        self._h2 = h2.connection.H2Connection(_CONFIG)
        self._transport: asyncio.Transport | None = None
        self._peer = ""
        self._incoming: dict[int, _Incoming] = {}
        self._last_stream = 0
        self._tasks: dict[int, asyncio.Task[None]] = {}
        # Response bodies waiting for the client's flow-control window, by stream.
        self._blocked: dict[int, memoryview] = {}
        self._flush_pending = False

    def in_flight(self) -> list[asyncio.Task[None]]:
        return list(self._tasks.values())

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            family = "ipv6" if ":" in str(peer[0]) else "ipv4"
            self._peer = f"{family}:{peer[0]}:{peer[1]}"
        h = self._h2
        h.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: _MAX_STREAMS,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _WINDOW,
            },
        )
        h.initiate_connection()
        h.increment_flow_control_window(_WINDOW - 65_535)  # the connection's own window
        self._server._connections.add(self)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server._connections.discard(self)
        self._transport = None
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        self._incoming.clear()
        self._blocked.clear()

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            # h2 has queued the GOAWAY that names the error; send it and hang up.
            self._flush()
            self.close()
            return
        for ev in events:
            kind = type(ev)
            if kind is h2.events.DataReceived:
                self._on_data(ev)  # type: ignore[arg-type]
            elif kind is h2.events.RequestReceived:
                sid = ev.stream_id  # type: ignore[attr-defined]
                self._last_stream = max(self._last_stream, sid)
                self._incoming[sid] = _Incoming(list(ev.headers), bytearray())  # type: ignore[attr-defined]
            elif kind is h2.events.StreamEnded:
                self._on_request(ev.stream_id)  # type: ignore[attr-defined]
            elif kind is h2.events.StreamReset:
                self._forget(ev.stream_id)  # type: ignore[attr-defined]
            elif kind is h2.events.WindowUpdated or kind is h2.events.RemoteSettingsChanged:
                self._unblock()
            elif kind is h2.events.ConnectionTerminated:
                self._flush()
                self.close()
                return
        self._flush()

    # -- requests -----------------------------------------------------------------------------

    def _on_data(self, ev: h2.events.DataReceived) -> None:
        sid = ev.stream_id
        assert sid is not None
        if ev.flow_controlled_length:
            self._h2.acknowledge_received_data(ev.flow_controlled_length, sid)
        call = self._incoming.get(sid)
        if call is None or ev.data is None:
            return
        call.body += ev.data
        if len(call.body) > MAX_MESSAGE + 5:
            del self._incoming[sid]
            self._status(
                sid,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"Received message larger than max ({len(call.body) - 5} vs. {MAX_MESSAGE})",
            )
            with contextlib.suppress(h2.exceptions.H2Error):
                self._h2.reset_stream(sid)

    def _on_request(self, sid: int) -> None:
        call = self._incoming.pop(sid, None)
        if call is None:
            return
        path = b""
        method_ok = content_type_ok = False
        encoding = b"identity"
        for name, value in call.headers:
            if name == b":path":
                path = value
            elif name == b":method":
                method_ok = value == b"POST"
            elif name == b"content-type":
                content_type_ok = value.startswith(b"application/grpc")
            elif name == b"grpc-encoding":
                encoding = value
        if not content_type_ok or not method_ok:
            # Not a gRPC request at all: an HTTP answer, as grpc servers give one.
            status = b"415" if method_ok else b"405"
            self._send_headers(sid, ((b":status", status),), end_stream=True)
            return
        body = call.body
        if len(body) < 5 or int.from_bytes(body[1:5], "big") != len(body) - 5:
            self._status(sid, grpc.StatusCode.INTERNAL, "expected exactly one request message")
            return
        message = bytes(body[5:])
        if body[0]:
            wbits = _DECODERS.get(encoding)
            if wbits is None:
                self._status(
                    sid,
                    grpc.StatusCode.UNIMPLEMENTED,
                    f"Compression algorithm '{encoding.decode(errors='replace')}' is not supported",
                )
                return
            try:
                message = zlib.decompress(message, wbits)
            except zlib.error:
                self._status(sid, grpc.StatusCode.INTERNAL, "failed to decompress the message")
                return
        method = self._server.method(path)
        if method is None:
            self._status(sid, grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
            return
        try:
            request = method.deserialize(message)
        except Exception:
            self._status(sid, grpc.StatusCode.INTERNAL, "Exception deserializing request!")
            return
        context = ServicerContext(call.headers, self._peer)
        try:
            result = method.behavior(request, context)
        except Exception as e:
            self._fail(sid, e, context)
            return
        if inspect.isawaitable(result):
            self._tasks[sid] = asyncio.get_running_loop().create_task(
                self._finish(sid, method, result, context)
            )
        else:
            # Answered at once: the response goes out with this read's other answers, in one
            # write (a task per call and a write per response were a third of this transport).
            self._complete(sid, method, result, context)

    async def _finish(
        self, sid: int, method: _Method, pending: Awaitable[Any], context: ServicerContext
    ) -> None:
        try:
            result = await pending
        except Exception as e:
            self._fail(sid, e, context)
        else:
            self._complete(sid, method, result, context)
        finally:
            self._tasks.pop(sid, None)
        self._flush_soon()

    def _complete(self, sid: int, method: _Method, result: Any, context: ServicerContext) -> None:
        if context.code is not None and context.code is not grpc.StatusCode.OK:
            self._status(sid, context.code, context.details)
            return
        try:
            payload = method.serialize(result)
        except Exception as e:
            self._fail(sid, e, context)
            return
        self._respond(sid, payload)

    def _fail(self, sid: int, error: Exception, context: ServicerContext) -> None:
        if isinstance(error, _Abort):
            self._status(sid, error.code, error.details)
            return
        # As grpc: a status the servicer set wins (the generated "not implemented" methods set
        # UNIMPLEMENTED, then raise); else UNKNOWN.
        code = context.code or grpc.StatusCode.UNKNOWN
        self._status(sid, code, context.details or f"Unexpected {type(error)!r}: {error}")

    def _forget(self, sid: int) -> None:
        self._incoming.pop(sid, None)
        self._blocked.pop(sid, None)
        task = self._tasks.pop(sid, None)
        if task is not None:
            task.cancel()

    # -- responses ----------------------------------------------------------------------------

    def _respond(self, sid: int, payload: bytes) -> None:
        if not self._send_headers(sid, _OK_HEADERS):
            return
        self._send_body(sid, memoryview(b"\x00" + len(payload).to_bytes(4, "big") + payload))

    def _status(self, sid: int, code: grpc.StatusCode, details: str) -> None:
        """A Trailers-Only response: the status in the only HEADERS frame."""
        headers = [
            *_OK_HEADERS,
            (b"grpc-status", str(code.value[0]).encode()),
            (b"grpc-accept-encoding", _ACCEPT_ENCODING),
        ]
        if details:
            headers.append((b"grpc-message", percent_encode(details)))
        self._send_headers(sid, headers, end_stream=True)

    def _send_headers(
        self, sid: int, headers: Sequence[tuple[bytes, bytes]], end_stream: bool = False
    ) -> bool:
        if self._transport is None:
            return False
        try:
            self._h2.send_headers(sid, headers, end_stream=end_stream)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            return False  # the client reset or gave up on the call meanwhile
        return True

    def _send_body(self, sid: int, data: memoryview) -> None:
        """As much of ``data`` as the flow-control windows allow, then the trailers; the rest
        waits in ``_blocked`` for a WINDOW_UPDATE. A view, so that sending a large body frame by
        frame copies each byte once."""
        h = self._h2
        try:
            while data:
                n = min(h.local_flow_control_window(sid), h.max_outbound_frame_size, len(data))
                if n <= 0:
                    self._blocked[sid] = data
                    return
                h.send_data(sid, bytes(data[:n]))
                data = data[n:]
            h.send_headers(sid, _OK_TRAILERS, end_stream=True)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            self._blocked.pop(sid, None)

    def _unblock(self) -> None:
        if self._blocked:
            for sid, data in list(self._blocked.items()):
                del self._blocked[sid]
                self._send_body(sid, data)

    def _flush(self) -> None:
        self._flush_pending = False
        out = self._h2.data_to_send()
        if out and self._transport is not None and not self._transport.is_closing():
            self._transport.write(out)

    def _flush_soon(self) -> None:
        """One write for every response finished in this turn of the event loop (a write on
        loopback also pays for the receiver's side of TCP)."""
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush)

    # -- shutdown -----------------------------------------------------------------------------

    def go_away(self) -> None:
        """A graceful GOAWAY: no new calls here, the ones up to the last stream seen go on. Written
        by hand: h2's ``close_connection`` also closes its state machine, which would refuse the
        responses still to come (grpc servers do the same: GOAWAY first, close after the grace)."""
        if self._transport is not None:
            self._flush()
            frame = GoAwayFrame(stream_id=0, last_stream_id=self._last_stream, error_code=0)
            self._transport.write(frame.serialize())

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
