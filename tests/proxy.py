"""A TCP proxy in front of a real server that can hold bytes in flight: a silent network."""

from __future__ import annotations

import asyncio
import contextlib

from sandbox.embedded import HOST


class HoldingProxy:
    """Forwards TCP both ways; between `hold()` and `let_go()` bytes wait, sockets left open.

    `replies_only` holds only what the server sends: requests still arrive and are applied,
    their answers do not.
    """

    def __init__(self, upstream_port: int, *, replies_only: bool = False) -> None:
        self._upstream_port = upstream_port
        self._replies_only = replies_only
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._let_through = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, HOST, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    def hold(self, after_replies: int = 0) -> None:
        """`after_replies`: on each connection, that many more reads from the server pass first
        (a request that takes several round trips is held at its last)."""
        self._let_through = after_replies
        self._flowing.clear()

    def let_go(self) -> None:
        self._flowing.set()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for task in self._handlers:
            task.cancel()  # a pump holding bytes would wait for `let_go` forever
        await asyncio.gather(*self._handlers, return_exceptions=True)
        for writer in self._writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(HOST, self._upstream_port)
        except OSError:
            writer.close()
            return
        self._writers.add(upstream_writer)
        await asyncio.gather(
            self._pump(reader, upstream_writer, held=not self._replies_only),
            self._pump(upstream_reader, writer, held=True, replies=True),
        )

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, held: bool, replies: bool = False
    ) -> None:
        passed = 0  # replies let through on this connection since `hold`
        try:
            while data := await source.read(65536):
                if self._flowing.is_set():
                    passed = 0
                elif replies and passed < self._let_through:
                    passed += 1
                elif held:
                    await self._flowing.wait()
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.close()
