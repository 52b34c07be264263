"""Serving the API with uvicorn: in the foreground (``zoe api``) or in a thread.

``listen`` is ``HOST:PORT``; the default is loopback only. Uvicorn's access log
is off: it would write request paths and client addresses for every request, and
the API logs what matters (submissions, refusals) itself, never a token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from zoe.core.errors import InvalidInput, ZoeError

if TYPE_CHECKING:
    import uvicorn

    from zoe.api.config import ApiConfig


SHUTDOWN_DURATION = 5
"""Seconds a stopping server gives open replies before it cancels them."""


def parse_listen(listen: str) -> tuple[str, int]:
    """``(host, port)`` of ``HOST:PORT`` (``[::1]:8080`` for IPv6)."""
    host, sep, port_text = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise InvalidInput(
            f"listen address {listen!r}: give HOST:PORT, such as 127.0.0.1:8080"
        )
    return host, int(port_text)


def make_server(config: ApiConfig, listen: str, log_level: str) -> uvicorn.Server:
    """A uvicorn server of the API on ``listen``; ``run()`` it, set ``should_exit``."""
    import uvicorn

    from zoe.api.app import create_app

    host, port = parse_listen(listen)
    settings = uvicorn.Config(
        create_app(config),
        host=host,
        port=port,
        log_level=log_level.lower(),
        access_log=False,
        server_header=False,
        lifespan="on",
        # followed output streams never end by themselves: cut them at shutdown
        timeout_graceful_shutdown=SHUTDOWN_DURATION,
    )
    return uvicorn.Server(settings)


def serve(config: ApiConfig, listen: str, log_level: str = "info") -> None:
    """Serve in this thread until SIGINT or SIGTERM."""
    make_server(config, listen, log_level).run()


@contextmanager
def serve_in_thread(
    config: ApiConfig, listen: str, log_level: str = "warning", timeout: float = 20.0
) -> Iterator[str]:
    """Serve in a daemon thread; yield the base URL once it answers; stop after.

    Raises :class:`ZoeError` if the server does not start within ``timeout``.
    """
    server = make_server(config, listen, log_level)
    thread = threading.Thread(target=server.run, daemon=True, name="zoe-api")
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise ZoeError(f"the API did not start on {listen}; see the log")
        time.sleep(0.02)
    host, port = parse_listen(listen)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
