"""A one-frame hand-over between the receivers and the processing thread: the newest frame wins."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["LatestSlot"]


class LatestSlot(Generic[T]):
    """Holds at most one item; a new item replaces an unconsumed one, and the skip is counted.

    Never an unbounded queue: when the processing thread is busy, only the newest frame waits.

    Parameters
    ----------
    on_skip
        Called (in the putting thread, outside the lock) with each item that was replaced before
        it was taken.
    """

    def __init__(self, on_skip: Callable[[T], None] | None = None) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._has = False
        self._closed = False
        self._on_skip = on_skip
        self.put_count = 0
        self.skipped = 0

    def put(self, item: T) -> bool:
        """Offer an item; return ``False`` (and drop it) once the slot is closed."""
        dropped: T | None = None
        replaced = False
        with self._cond:
            if self._closed:
                return False
            if self._has:
                dropped, replaced = self._item, True
                self.skipped += 1
            self._item, self._has = item, True
            self.put_count += 1
            self._cond.notify()
        if replaced and self._on_skip is not None:
            self._on_skip(dropped)  # type: ignore[arg-type]
        return True

    def get(self, timeout: float | None = None) -> T | None:
        """Take the item, waiting up to ``timeout`` s; ``None`` on time-out or once closed and
        empty."""
        with self._cond:
            if not self._has and not self._closed:
                self._cond.wait(timeout)
            if not self._has:
                return None
            item, self._item, self._has = self._item, None, False
            return item

    def close(self) -> None:
        """Refuse new items and wake a waiting :meth:`get` (an item already held can be taken)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """``True`` after :meth:`close`."""
        return self._closed
