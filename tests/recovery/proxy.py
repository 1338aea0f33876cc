"""A TCP proxy that can cut every connection and refuse new ones: a real network fault."""

from __future__ import annotations

import asyncio
import contextlib


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to an upstream address until cut, and again once restored."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Listen (on the same port as before, once it has one)."""
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> int:
        """Close every connection and stop listening: connecting is refused.

        Returns how many connections were open (each has two ends here)."""
        assert self._server is not None
        self._server.close()
        open_ends = len(self._writers)
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        self._server = None
        return open_ends // 2

    async def stop(self) -> None:
        """Cut for good."""
        if self._server is not None:
            await self.cut()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.transport.abort()
            return
        self._writers |= {client_w, up_w}
        await asyncio.gather(self._pipe(client_r, up_w), self._pipe(up_r, client_w))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, ConnectionError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
        finally:  # also when cancelled (a test timed out): never a connection left unread
            self._writers.discard(writer)
            writer.transport.abort()
