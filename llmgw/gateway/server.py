"""Running the gateway app under uvicorn (uvloop + httptools) with a clean signal policy."""

from __future__ import annotations

import contextlib
import math
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator

import uvicorn

from llmgw.gateway.asgi import Receive, Scope, Send

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Server(uvicorn.Server):
    """uvicorn's server, except that a SIGINT/SIGTERM after a clean drain exits 0.

    uvicorn re-raises the captured signal once it has shut down, which makes the process die of
    that signal instead of reporting the clean shutdown it has just done.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run(app: ASGIApp, sock: socket.socket, *, drain_timeout_s: float, log_level: str) -> None:
    """Serve ``app`` on an already bound socket until SIGINT/SIGTERM, then drain and stop."""
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=log_level,
        timeout_graceful_shutdown=math.ceil(drain_timeout_s),  # whole seconds, rounded up
        proxy_headers=False,  # the gateway is the edge; forwarded-for is not trusted
        server_header=False,
        date_header=False,
    )
    Server(config).run(sockets=[sock])
