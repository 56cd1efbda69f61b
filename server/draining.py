"""uvicorn's server with one step added in front of its graceful shutdown."""

from __future__ import annotations

import socket
import sys
from collections.abc import Awaitable, Callable

import uvicorn

# uvicorn.run's exit status when the server never started (a taken port, a failed lifespan).
STARTUP_FAILURE = 3


class DrainingServer(uvicorn.Server):
    """Runs `before_drain` when shutdown begins, before uvicorn stops accepting and drains.

    The lifespan's shutdown comes only after the drain (up to `timeout_graceful_shutdown`);
    work that must not go on meanwhile stops here.
    """

    def __init__(self, config: uvicorn.Config, before_drain: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._before_drain = before_drain

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self._before_drain()
        await super().shutdown(sockets)

    def serve_until_stopped(self) -> None:
        """What `uvicorn.run` does for one process without reload."""
        try:
            self.run()
        except KeyboardInterrupt:
            pass
        if not self.started:
            sys.exit(STARTUP_FAILURE)
