"""Run lab servers on an event loop in a background thread.

Used where the code under test owns its own loop (the CLI's asyncio.run, the Textual app,
a benchmark's peer): the servers live on the lab thread's loop, the client on its own.

    with LabThread() as lab:
        dns = lab.start(DnsServer(zone))   # anything with async start() / stop()
        ...
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar


class Startable(Protocol):
    async def start(self) -> Any: ...
    async def stop(self) -> None: ...


S = TypeVar("S", bound=Startable)
T = TypeVar("T")


class LabThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="mxscope-lab", daemon=True)
        self._servers: list[Startable] = []

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def __enter__(self) -> LabThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run a coroutine on the lab loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self, server: S) -> S:
        self.call(server.start())
        self._servers.append(server)
        return server

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        for server in reversed(self._servers):
            try:
                self.call(server.stop(), timeout=10)
            except Exception:  # noqa: BLE001 - closing down; one failure must not stop the rest
                pass
        self._servers.clear()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()
