"""The live service's log: one JSON object per line, written and flushed as each event happens.

Every line has ``event`` (``start``, ``frame``, ``skip``, ``guard``, ``rejected``, ``error``,
``stop``) and ``unix_s`` (wall-clock time of writing, s since 1970). docs/live.md lists the fields.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from motionpredict.errors import InputFileError

__all__ = ["JsonLinesLog", "read_log"]


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float):
        return round(value, 6) if np.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class JsonLinesLog:
    """Append-only JSON-lines file, safe to write from several threads.

    Parameters
    ----------
    path
        The log file; it must not exist yet (a live log is never overwritten).

    Raises
    ------
    InputFileError
        The file exists already.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._f = self.path.open("x", encoding="utf-8")
        except FileExistsError:
            raise InputFileError(self.path, "exists already; choose a new log file") from None
        self._lock = threading.Lock()
        self.lines = 0

    def write(self, event: str, **fields: Any) -> None:
        """Write one event line (NaN/Inf become ``null``; arrays become lists) and flush it."""
        record = {"event": event, "unix_s": round(time.time(), 6), **_plain(fields)}
        line = json.dumps(record, allow_nan=False, separators=(",", ":"))
        with self._lock:
            if self._f.closed:
                return
            self._f.write(line + "\n")
            self._f.flush()
            self.lines += 1

    def close(self) -> None:
        """Close the file (later writes are ignored)."""
        with self._lock:
            if not self._f.closed:
                self._f.close()


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """Read a live log back: one dictionary per line, in order."""
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
