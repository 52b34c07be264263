"""Blocking resources shared by the API's worker threads.

A :class:`~zoe.live.db.Database` and a :class:`~zoe.live.client.MasterClient`
each serve one thread at a time. :class:`Pool` lends them out: a handler running
in a worker thread takes one, uses it, and gives it back. Nothing here runs on
the event loop.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class Pool(Generic[T]):
    """At most ``size`` objects made by ``make`` on demand, lent one at a time.

    :meth:`lend` blocks while all ``size`` objects are lent. :meth:`close` calls
    ``close`` on every object given back; objects still lent are not closed.
    """

    def __init__(
        self, make: Callable[[], T], close: Callable[[T], None], size: int
    ) -> None:
        self._make = make
        self._close = close
        self._idle: queue.LifoQueue[T] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    @contextmanager
    def lend(self) -> Iterator[T]:
        """One object for the duration of the ``with`` block."""
        with self._slots:
            try:
                item = self._idle.get_nowait()
            except queue.Empty:
                item = self._make()
            try:
                yield item
            finally:
                self._idle.put(item)

    def close(self) -> None:
        """Close every idle object."""
        while True:
            try:
                item = self._idle.get_nowait()
            except queue.Empty:
                return
            self._close(item)
