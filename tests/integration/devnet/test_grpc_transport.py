"""The devnet node's gRPC transport against grpcio's own client, over loopback sockets.

Statuses, details, metadata, compression, flow control of large messages, cancellation and a
graceful stop: what a grpcio client relies on from any gRPC server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2 as tm_query
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2_grpc as tm_grpc

from dydx_devnet.grpc_server import MAX_MESSAGE, GrpcServer, percent_encode


class _Echo:
    def __init__(self) -> None:
        self.cancelled = asyncio.Event()
        self.started = asyncio.Event()

    async def echo(self, request: bytes, context: Any) -> bytes:
        return request

    async def big(self, request: bytes, context: Any) -> bytes:
        return bytes(range(256)) * (int(request.decode()) // 256)

    async def meta(self, request: bytes, context: Any) -> bytes:
        return repr(sorted(context.invocation_metadata())).encode()

    async def abort(self, request: bytes, context: Any) -> bytes:
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, request.decode())
        raise AssertionError("abort returns never")

    async def crash(self, request: bytes, context: Any) -> bytes:
        raise ValueError("boom")

    async def slow(self, request: bytes, context: Any) -> bytes:
        self.started.set()
        try:
            await asyncio.sleep(float(request.decode()))
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return b"done"


def _handlers(echo: _Echo) -> grpc.GenericRpcHandler:
    methods = {
        name: grpc.unary_unary_rpc_method_handler(getattr(echo, name))
        for name in ("echo", "big", "meta", "abort", "crash", "slow")
    }
    return grpc.method_handlers_generic_handler("test.Echo", methods)


class _Node(tm_grpc.ServiceServicer):  # type: ignore[misc]
    async def GetNodeInfo(self, request: Any, context: Any) -> tm_query.GetNodeInfoResponse:
        return tm_query.GetNodeInfoResponse(application_version=tm_query.VersionInfo(name="x"))


@pytest.fixture
async def served() -> AsyncIterator[tuple[GrpcServer, grpc.aio.Channel, _Echo, int]]:
    echo = _Echo()
    server = GrpcServer()
    server.add_generic_rpc_handlers((_handlers(echo),))
    tm_grpc.add_ServiceServicer_to_server(_Node(), server)
    port = await server.start("127.0.0.1", 0)
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{port}", options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    )
    try:
        yield server, channel, echo, port
    finally:
        await channel.close()
        await server.stop(0)


def _call(channel: grpc.aio.Channel, name: str) -> Any:
    return channel.unary_unary(f"/test.Echo/{name}")


async def test_generated_servicers_and_their_unimplemented_methods(served: Any) -> None:
    _, channel, _, _ = served
    stub = tm_grpc.ServiceStub(channel)
    info = await stub.GetNodeInfo(tm_query.GetNodeInfoRequest(), timeout=5)
    assert info.application_version.name == "x"
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stub.GetSyncing(tm_query.GetSyncingRequest(), timeout=5)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert e.value.details() == "Method not implemented!"


async def test_unknown_method_is_unimplemented(served: Any) -> None:
    _, channel, _, _ = served
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await channel.unary_unary("/test.Nope/Nothing")(b"", timeout=5)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_abort_carries_code_and_exact_details(served: Any) -> None:
    _, channel, _, _ = served
    details = "sequence mismatch: 100% wrong, expected 7 — got 5\tand more"
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await _call(channel, "abort")(details.encode(), timeout=5)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert e.value.details() == details


def test_percent_encoding_follows_the_grpc_spec() -> None:
    assert percent_encode("a b%c") == b"a b%25c"
    assert percent_encode("é\n") == b"%C3%A9%0A"


async def test_an_exception_is_unknown(served: Any) -> None:
    _, channel, _, _ = served
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await _call(channel, "crash")(b"", timeout=5)
    assert e.value.code() == grpc.StatusCode.UNKNOWN
    assert "boom" in (e.value.details() or "")


async def test_metadata_reaches_the_servicer(served: Any) -> None:
    _, channel, _, _ = served
    out = await _call(channel, "meta")(
        b"", metadata=(("x-trace", "abc"), ("x-blob-bin", b"\x00\x01")), timeout=5
    )
    assert b"('x-trace', 'abc')" in out
    assert b"('x-blob-bin', b'\\x00\\x01')" in out
    assert b"('grpc-" not in out and b"(':" not in out


async def test_large_messages_both_ways_under_flow_control(served: Any) -> None:
    _, channel, _, _ = served
    # Far above HTTP/2's 64 KiB initial windows and 16 KiB frames.
    request = bytes(range(256)) * 8192  # 2 MiB
    assert await _call(channel, "echo")(request, timeout=10) == request
    size = 12 * 1024 * 1024
    response = await _call(channel, "big")(str(size).encode(), timeout=10)
    assert len(response) == size
    assert response[:512] == bytes(range(256)) * 2


async def test_a_request_over_the_limit_is_refused(served: Any) -> None:
    _, channel, _, _ = served
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await _call(channel, "echo")(b"x" * (MAX_MESSAGE + 1), timeout=10)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_compressed_requests(served: Any) -> None:
    _, channel, _, _ = served
    request = b"compress me " * 1000
    for algorithm in (grpc.Compression.Gzip, grpc.Compression.Deflate):
        out = await _call(channel, "echo")(request, compression=algorithm, timeout=5)
        assert out == request


async def test_many_calls_in_flight_on_one_connection(served: Any) -> None:
    _, channel, _, _ = served
    calls = [_call(channel, "echo")(str(i).encode(), timeout=20) for i in range(2000)]
    out = await asyncio.gather(*calls)
    assert out == [str(i).encode() for i in range(2000)]


async def test_a_client_deadline_cancels_the_handler(served: Any) -> None:
    _, channel, echo, _ = served
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await _call(channel, "slow")(b"30", timeout=0.3)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.wait_for(echo.cancelled.wait(), 5)


async def test_a_graceful_stop_finishes_calls_in_flight_and_refuses_new_ones(served: Any) -> None:
    server, channel, echo, _ = served
    call = asyncio.ensure_future(_call(channel, "slow")(b"0.3", timeout=10))
    await asyncio.wait_for(echo.started.wait(), 5)
    await server.stop(grace=5)
    assert await call == b"done"
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await _call(channel, "echo")(b"", timeout=2)
    assert e.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def test_garbage_closes_the_connection_and_the_server_stays_up(served: Any) -> None:
    _, channel, _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) is not None  # closed by the server
    writer.close()
    assert await _call(channel, "echo")(b"still here", timeout=5) == b"still here"
