"""Content-hash cache of the expensive per-sequence stages (registration, PCA).

A key is the SHA-256 of the input arrays' bytes (frames, or training fields), the geometry and
every setting that changes the result; the value is an ``.npz`` written atomically (temporary
file, then rename), so a folder may be shared by runs and processes. Two jobs on the same
sequence with the same settings (e.g. different methods or horizons) register it once; a changed
frame or LK parameter changes the key.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np


def content_hash(*parts: Any) -> str:
    """SHA-256 hex digest of arrays (shape, dtype and bytes) and JSON-able values."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            a = np.ascontiguousarray(part)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=repr).encode())
        h.update(b"\0")
    return h.hexdigest()


class ArrayCache:
    """A folder of ``<kind>-<hash>.npz`` files.

    Parameters
    ----------
    folder
        Where the files live (created on first write); ``None`` disables caching.
    """

    #: Arrays recently read or computed in this process, by file path (a worker running many
    #: jobs of one sequence reads its fields once).
    _memory: ClassVar[dict[str, dict[str, np.ndarray]]] = {}
    _memory_size: ClassVar[int] = 2

    def __init__(self, folder: str | Path | None) -> None:
        self.folder = None if folder is None else Path(folder)
        self.hits = 0
        self.misses = 0

    def _remember(self, path: Path | None, arrays: dict[str, np.ndarray]) -> None:
        if path is None:
            return
        mem = ArrayCache._memory
        mem.pop(str(path), None)
        mem[str(path)] = arrays
        while len(mem) > ArrayCache._memory_size:
            mem.pop(next(iter(mem)))

    def path(self, kind: str, key: str) -> Path | None:
        """File that holds ``kind``/``key`` (``None`` when disabled)."""
        return None if self.folder is None else self.folder / f"{kind}-{key[:40]}.npz"

    def get_or_compute(
        self, kind: str, key: str, compute: Callable[[], dict[str, np.ndarray]]
    ) -> dict[str, np.ndarray]:
        """Return the cached arrays, computing and storing them on a miss."""
        path = self.path(kind, key)
        if path is not None and str(path) in ArrayCache._memory and path.exists():
            self.hits += 1
            return ArrayCache._memory[str(path)]
        if path is not None and path.exists():
            try:
                with np.load(path) as data:
                    out = {k: data[k] for k in data.files}
                self.hits += 1
                self._remember(path, out)
                return out
            except (OSError, ValueError):
                pass  # unreadable (foreign or truncated) file: recompute and replace it
        self.misses += 1
        out = compute()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
            os.close(fd)
            try:
                np.savez(tmp, allow_pickle=False, **out)
                os.chmod(tmp, 0o644)  # mkstemp makes it private; a shared cache must be readable
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            self._remember(path, out)
        return out
