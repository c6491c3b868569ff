"""Embedded SQLite results store: one row per finished job, committed at once.

The store is one file (``results.sqlite``) in the run folder. Every job is written in its own
transaction as soon as it finishes, so a run killed at any moment (even ``SIGKILL``) keeps every
job it finished; ``--resume`` skips their keys. SQLite's journal makes each commit atomic.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from motionpredict.errors import InputFileError

#: File name of the store inside a run folder.
STORE_NAME = "results.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    result TEXT NOT NULL,
    finished_at REAL NOT NULL,
    elapsed_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def dumps(obj: Any) -> str:
    """JSON text of ``obj`` (NumPy values converted, NaN/Inf as ``null``)."""
    return json.dumps(_jsonable(obj), sort_keys=True, allow_nan=False)


class ResultStore:
    """The results of one run.

    Parameters
    ----------
    path
        The run folder (the store is ``path / results.sqlite``) or the ``.sqlite`` file itself.
    create
        Create the file when missing; otherwise a missing store is an :class:`InputFileError`.
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        p = Path(path)
        self.path = p if p.suffix == ".sqlite" else p / STORE_NAME
        if not self.path.exists() and not create:
            raise InputFileError(p, f"no results store ({STORE_NAME}) here; is it a run folder?")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(str(self.path), timeout=60.0)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=FULL")
        self._con.executescript(_SCHEMA)
        self._con.commit()

    def close(self) -> None:
        """Close the connection."""
        self._con.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ meta
    def set_meta(self, name: str, value: Any) -> None:
        """Store a run-level value (config, version, provenance) as JSON."""
        with self._con:
            self._con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, dumps(value)))

    def get_meta(self, name: str, default: Any = None) -> Any:
        """Return a run-level value, or ``default``."""
        row = self._con.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return default if row is None else json.loads(row[0])

    # ------------------------------------------------------------------ jobs
    def put(self, key: str, spec: dict[str, Any], result: dict[str, Any],
            elapsed_s: float = 0.0) -> None:
        """Store one finished job and commit at once."""
        with self._con:
            self._con.execute(
                "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?)",
                (key, dumps(spec), dumps(result), time.time(), float(elapsed_s)),
            )

    def done_keys(self) -> set[str]:
        """Keys of every finished job."""
        return {r[0] for r in self._con.execute("SELECT key FROM jobs")}

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every finished job as ``{"key", "spec", "result", "finished_at", "elapsed_s"}``."""
        cur = self._con.execute(
            "SELECT key, spec, result, finished_at, elapsed_s FROM jobs ORDER BY key")
        for key, spec, result, fin, el in cur:
            yield {"key": key, "spec": json.loads(spec), "result": json.loads(result),
                   "finished_at": fin, "elapsed_s": el}

    def __len__(self) -> int:
        return int(self._con.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])
