"""Atomic file writes: write to a temporary file beside the target, rename on success.

An interrupted export (exception, ``KeyboardInterrupt``, crash) never leaves a partial file under
the final name: either the previous file is still there or the complete new one is.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "full_suffix"]


def full_suffix(path: str | Path) -> str:
    """Return the compound extension of a file name (``".nii.gz"``, ``".seq.nrrd"``, ``".mha"``).

    Parameters
    ----------
    path
        A file name or path.

    Returns
    -------
    str
        The lower-case extension, including compound forms known to the writers.
    """
    name = Path(path).name.lower()
    for compound in (".seq.nrrd", ".nii.gz"):
        if name.endswith(compound):
            return compound
    return Path(name).suffix


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` when the block succeeds.

    The temporary name keeps the extension of ``path`` (libraries such as SimpleITK choose the
    format from it) and starts with a dot so that file browsers hide it. On any exception the
    temporary file is removed and the exception propagates; ``path`` is left untouched.

    Parameters
    ----------
    path
        Final destination. Its parent folder is created if missing.

    Yields
    ------
    Path
        Where the caller must write the complete file.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    suffix = full_suffix(final)
    stem = final.name[: len(final.name) - len(suffix)] if suffix else final.name
    tmp = final.with_name(f".{stem}.tmp-{secrets.token_hex(4)}{suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"{tmp}: the writer produced no file")
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
