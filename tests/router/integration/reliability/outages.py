"""Faults the reliability tests inject: a TCP proxy that can be killed (a node that crashed) and a
PostgreSQL of the test's own that can be stopped and started (a database outage)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
import time
import warnings
from typing import Any

from tests.router.integration.reliability.harness import ROOT

# --- a TCP proxy that can die ------------------------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:port to ``target`` on a thread of its own (so a busy test loop cannot
    stall it). ``kill()`` closes the port and cuts every connection, like a node that crashed;
    ``revive()`` listens on the same port again. ``delay_s`` adds latency to each direction
    without limiting throughput. ``bytes_up`` counts client → target bytes (where traffic went).
    """

    def __init__(self, target: str, *, delay_s: float = 0.0) -> None:
        host, port = target.rsplit(":", 1)
        self._target = (host, int(port))
        self.delay_s = delay_s
        self.port = 0
        self.bytes_up = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def start(self) -> TcpProxy:
        self._thread.start()
        self._run(self._listen())
        return self

    def kill(self) -> None:
        self._run(self._kill())

    def revive(self) -> None:
        self._run(self._listen())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._run(self._kill())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _kill(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()  # RST, like a dead process
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, count=True),
                self._pipe(up_reader, writer, count=False),
            )
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, count: bool
    ) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    return
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while data := await reader.read(65536):
                if count:
                    self.bytes_up += len(data)
                queue.put_nowait((time.monotonic() + self.delay_s, data))
            queue.put_nowait((0.0, b""))
            await sender
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await sender
            for w in (writer,):
                w.transport.abort()


# --- a PostgreSQL of the test's own ------------------------------------------------------------


class OwnPostgres:
    """An embedded PostgreSQL (pgserver) in a fresh data directory, which the test may stop and
    start again (same socket, same data) to simulate a database outage."""

    def __init__(self, name: str) -> None:
        self.data_dir = ROOT / ".local" / f"pg-{name}-{os.getpid()}"
        self._server: Any = None
        self.url = ""

    def start(self) -> str:
        shutil.rmtree(self.data_dir, ignore_errors=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver import get_server  # type: ignore[attr-defined]

            self._server = get_server(self.data_dir, cleanup_mode="stop")
        self.url = str(self._server.get_uri())
        self._socket_dir = self._server.get_postmaster_info().socket_dir
        return self.url

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.data_dir, user=self._server.system_user, timeout=60)

    def stop(self) -> None:
        """Fast shutdown: open connections are terminated, new ones refused."""
        self._pg_ctl("-w", "-m", "fast", "stop")

    def resume(self) -> None:
        """Start again on the same socket and data (pgserver's own start options)."""
        self._pg_ctl(
            "-w",
            "-o",
            '-h ""',
            "-o",
            f"-k {self._socket_dir}",
            "-l",
            str(self._server.log),
            "start",
        )

    def close(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.cleanup()
            with contextlib.suppress(Exception):
                self.stop()
            self._server = None
        shutil.rmtree(self.data_dir, ignore_errors=True)
