"""What the benchmarks of the live system share: a free port and a database."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def database(folder: Path) -> tuple[str, Callable[[], None]]:
    """``$ZOE_TEST_DATABASE_URL``, else a throwaway embedded server in ``folder``.

    Returns the address and the function that stops what was started.
    """
    configured = os.environ.get("ZOE_TEST_DATABASE_URL")
    if configured:
        return configured, lambda: None
    from zoe.live.db import EmbeddedPostgres

    folder.chmod(0o711)
    server = EmbeddedPostgres(folder / "pg", durable=False)
    return server.start(), server.stop
