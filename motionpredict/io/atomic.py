"""Atomic file writes: write to a temporary file beside the target, rename on success.

An interrupted export (exception, ``KeyboardInterrupt``, crash) never leaves a partial file under
the final name: either the previous file is still there or the complete new one is.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

__all__ = [
    "atomic_path",
    "commit_outputs",
    "discard_outputs",
    "full_suffix",
    "stage_output",
    "staged_outputs",
]

#: Output folders being built by the running command: ``(staging folder, final folder, force)``.
_STAGED: list[tuple[Path, Path, bool]] = []
#: Parent folders created for staged outputs (removed again when the command fails).
_CREATED_PARENTS: list[Path] = []


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


def save_npz(folder: str | Path, relative: str, arrays: Mapping[str, np.ndarray]) -> str:
    """Write ``arrays`` to ``folder / relative`` as a compressed ``.npz`` (no pickles), atomically.

    Parameters
    ----------
    folder
        The output folder (e.g. an evaluation run or a ``predict`` output).
    relative
        Path of the file inside ``folder``, ending in ``.npz`` (e.g. ``"artifacts/<key>.npz"``).
    arrays
        ``{name: array}``.

    Returns
    -------
    str
        ``relative`` (what a results store records).
    """
    if not relative.endswith(".npz"):
        raise ValueError(f"{relative}: an .npz name is needed")
    with atomic_path(Path(folder) / relative) as tmp:
        np.savez_compressed(tmp, allow_pickle=False, **dict(arrays))
    return relative


def stage_output(path: str | Path, *, force: bool = False) -> Path:
    """Return a hidden staging folder where a command builds the output folder ``path``.

    Nothing is created under the final name until :func:`commit_outputs` moves the complete
    staging folder into place (the command line does so when the command succeeds); on an error
    :func:`discard_outputs` deletes it, so a failed command leaves nothing behind.

    Parameters
    ----------
    path
        The output folder the user asked for.
    force
        Replace an existing ``path`` as a whole (only once the new output is complete).
        Without it an existing, non-empty ``path`` is refused before anything is written.

    Returns
    -------
    Path
        The staging folder (created, empty), in the same parent folder as ``path``.

    Raises
    ------
    InputFileError
        ``path`` exists and is not an empty folder (without ``force``), is a file, or its parent
        folder cannot be written.
    """
    from motionpredict.errors import InputFileError

    final = Path(path)
    if final.exists() and not final.is_dir():
        raise InputFileError(final, "exists and is not a folder; choose another output folder")
    if final.is_dir() and any(final.iterdir()) and not force:
        raise InputFileError(final, "the output folder already exists and is not empty; choose "
                                    "another one or pass --force to replace it")
    parent = final.parent
    missing = []  # parent folders this command creates (removed again if it fails)
    p = parent.absolute()
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = parent / f".{final.name}.partial-{secrets.token_hex(4)}"
        tmp.mkdir()
    except OSError as exc:
        _remove_empty(missing)
        raise InputFileError(parent, f"cannot create the output folder here "
                                     f"({exc.strerror or exc})") from None
    _STAGED.append((tmp, final, force))
    _CREATED_PARENTS.extend(missing)
    return tmp


def _remove_empty(folders: list[Path]) -> None:
    """Remove the given folders, deepest first, where they are empty."""
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()


def staged_outputs() -> list[tuple[Path, Path]]:
    """``(staging folder, final folder)`` of every output being built."""
    return [(tmp, final) for tmp, final, _ in _STAGED]


def commit_outputs() -> list[Path]:
    """Move every staged output folder into place; return the final folders.

    An existing folder (allowed by ``force``) is renamed aside, the new one renamed into place,
    then the old one deleted: at every moment the final name holds a complete output.
    """
    done = []
    _CREATED_PARENTS.clear()  # they now hold the output
    while _STAGED:
        tmp, final, _force = _STAGED.pop(0)
        old = None
        if final.exists():
            old = final.parent / f".{final.name}.old-{secrets.token_hex(4)}"
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        done.append(final)
    return done


def discard_outputs() -> None:
    """Delete every staging folder (the command failed) and the parent folders created for
    them: nothing is left behind."""
    while _STAGED:
        tmp, _final, _force = _STAGED.pop()
        shutil.rmtree(tmp, ignore_errors=True)
    _remove_empty(_CREATED_PARENTS)
    _CREATED_PARENTS.clear()
