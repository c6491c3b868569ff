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
        if self.path.exists() and not self.path.is_file():
            raise InputFileError(self.path, "is not a file; is it a run folder?")
        self.read_only = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._con = sqlite3.connect(str(self.path), timeout=60.0)
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=FULL")
            self._con.executescript(_SCHEMA)
            self._con.commit()
        except (sqlite3.Error, OSError) as exc:
            if create:
                raise InputFileError(self.path, f"cannot write the results store here ({exc}); "
                                                "is the folder read-only?") from None
            # reading a run in a read-only place (a shared or archived folder): open it immutable
            self.read_only = True
            try:
                self._con = sqlite3.connect(f"{self.path.resolve().as_uri()}?immutable=1",
                                            uri=True)
                self._con.execute("SELECT COUNT(*) FROM jobs").fetchone()
            except sqlite3.Error as exc2:
                raise InputFileError(self.path, f"cannot read the results store ({exc2})"
                                     ) from None

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


#: Configuration fields that say how a run executes (where, on how many workers, on which
#: device), not what it computes: they may change between a run and its ``--resume``.
EXECUTION_FIELDS = frozenset({"output", "jobs", "address", "cache_dir", "device", "rnn_backend",
                              "name", "source"})


def _what(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in _jsonable(config).items() if k not in EXECUTION_FIELDS}


def config_fingerprint(config: dict[str, Any]) -> str:
    """SHA-256 of what a configuration computes (its fields less :data:`EXECUTION_FIELDS`).

    Parameters
    ----------
    config
        :meth:`EvalConfig.as_dict() <motionpredict.evaluation.config.EvalConfig.as_dict>`.

    Returns
    -------
    str
        64 hexadecimal digits, stored as the run's ``fingerprint`` metadata.
    """
    import hashlib

    return hashlib.sha256(dumps(_what(config)).encode()).hexdigest()


def check_same_config(store: ResultStore, config: dict[str, Any], run_dir: str | Path) -> None:
    """Refuse to add jobs of ``config`` to a run started with another configuration.

    A run folder that has no fingerprint yet (new, or written before fingerprints existed) is
    accepted.

    Raises
    ------
    ConfigurationError
        The stored fingerprint differs; the message lists the fields that differ.
    """
    from motionpredict.errors import ConfigurationError

    old = store.get_meta("fingerprint")
    if old is None or old == config_fingerprint(config):
        return
    before = _what(store.get_meta("config") or {})
    now = json.loads(dumps(_what(config)))
    diffs = []
    for k in sorted(set(before) | set(now)):
        if before.get(k) != now.get(k):
            a, b = json.dumps(before.get(k)), json.dumps(now.get(k))
            diffs.append(f"{k}: {a[:60]} -> {b[:60]}")
    what = "; ".join(diffs[:6]) + (f"; and {len(diffs) - 6} more" if len(diffs) > 6 else "")
    raise ConfigurationError(
        f"{run_dir}: this run was started with another configuration ({what or 'changed'}); "
        "--resume completes a run with its own configuration: start a new run folder, or pass "
        "--force to replace this one")
