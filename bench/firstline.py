"""The ceiling the benchmarks compare against: a Protocol that connects, reads up to the
first newline and closes — no timeouts, parsing, QUIT or bookkeeping of any kind."""

from __future__ import annotations

import asyncio


class FirstLine(asyncio.Protocol):
    """Resolves ``done`` with True once a line arrived, False if the peer closed first."""

    __slots__ = ("done", "transport", "buf")

    def __init__(self, done: asyncio.Future[bool]) -> None:
        self.done = done
        self.buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if b"\n" in self.buf:
            self.transport.close()
            if not self.done.done():
                self.done.set_result(True)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(False)
