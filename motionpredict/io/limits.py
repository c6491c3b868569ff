"""Checks made before trusting a file's numbers: sizes against the file and the memory, and the
plausibility of marker positions.

A header can declare anything (``Rows = Columns = 65535``, ``DimSize = 100000 100000 500``); a
reader compares what it declares with what the file holds and with the free memory *before*
allocating, so that a damaged or hostile file is refused with a message instead of exhausting the
machine. Marker positions far outside any treatment room (a logger glitch of -48,800,000 mm) are
refused rather than forecast.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from motionpredict.errors import InputFileError

__all__ = [
    "MAX_MARKER_POSITION_MM",
    "MAX_MARKER_STEP_MM",
    "available_memory_bytes",
    "check_allocation",
    "check_marker_positions",
    "format_bytes",
]

#: Largest accepted |coordinate| of a marker position (mm). Tracking cameras report positions in
#: room coordinates within a few metres of the isocentre; the reference data lie within 0.5 m.
#: A sidecar (``sequence.json``) may override it with ``"plausible_position_mm"``.
MAX_MARKER_POSITION_MM = 2000.0

#: Largest accepted displacement of one marker between two consecutive samples (mm). Breathing
#: moves the chest wall by at most a few cm/s; a jump of 20 cm between samples is a logger error.
#: A sidecar may override it with ``"plausible_step_mm"``.
MAX_MARKER_STEP_MM = 200.0

#: Fraction of the free memory one decoded input may take.
MEMORY_FRACTION = 0.5


def available_memory_bytes() -> int | None:
    """Free physical memory in bytes (Linux / macOS ``sysconf``), or ``None`` when unknown."""
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - platform dependent
        return None
    if pages <= 0 or size <= 0:  # pragma: no cover
        return None
    return int(pages) * int(size)


def format_bytes(n: float) -> str:
    """``"8.6 GB"``, ``"512 kB"``: a byte count for a message."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} PB"  # pragma: no cover


def check_allocation(path: str | Path, n_bytes: float, what: str) -> None:
    """Refuse to allocate ``n_bytes`` for ``what`` of ``path`` when the memory cannot hold it.

    Parameters
    ----------
    path
        The file being read (named in the message).
    n_bytes
        Bytes the decoded data will take.
    what
        What the file declares (e.g. ``"65535 x 65535 pixels x 1 frame"``).

    Raises
    ------
    InputFileError
        ``n_bytes`` exceeds :data:`MEMORY_FRACTION` of the free memory.
    """
    free = available_memory_bytes()
    if free is not None and n_bytes > MEMORY_FRACTION * free:
        raise InputFileError(
            path,
            f"the header declares {what} ({format_bytes(n_bytes)} once decoded), more than the "
            f"free memory allows ({format_bytes(free)} free); is the header damaged?",
        )


def check_marker_positions(
    path: str | Path,
    positions_mm: np.ndarray,
    names: tuple[str, ...] | list[str] | None = None,
    *,
    max_position_mm: float | None = None,
    max_step_mm: float | None = None,
    first_line: int = 2,
) -> None:
    """Refuse implausible marker positions: too far from the origin, or jumping between samples.

    Parameters
    ----------
    path
        The file the positions were read from (named in the message).
    positions_mm
        ``(T, N, 3)`` positions in mm.
    names
        Marker names (``N``), for the message.
    max_position_mm, max_step_mm
        Limits in mm (default :data:`MAX_MARKER_POSITION_MM`, :data:`MAX_MARKER_STEP_MM`).
    first_line
        File line of the first sample (1-based), to name the offending line.

    Raises
    ------
    InputFileError
        Fewer than 2 samples, a coordinate beyond ``max_position_mm`` or a step beyond
        ``max_step_mm``, naming the line, the marker and the limit.
    """
    lim = MAX_MARKER_POSITION_MM if max_position_mm is None else float(max_position_mm)
    step_lim = MAX_MARKER_STEP_MM if max_step_mm is None else float(max_step_mm)
    pos = np.asarray(positions_mm, dtype=float)
    if pos.ndim != 3 or pos.shape[0] < 2:
        n = pos.shape[0] if pos.ndim else 0
        raise InputFileError(path, f"{n} sample(s): a trajectory needs at least 2 samples (a "
                                   "sampling period and a motion)")

    def _name(k: int) -> str:
        return names[k] if names is not None and k < len(names) else f"marker {k + 1}"

    far = np.abs(pos) > lim
    if far.any():
        t, k, c = np.argwhere(far)[0]
        raise InputFileError(
            path,
            f"line {first_line + int(t)}: {_name(int(k))} {'xyz'[int(c)]} = "
            f"{pos[t, k, c]:.6g} mm is beyond the plausible range of +-{lim:g} mm (set "
            "'plausible_position_mm' in sequence.json if it is real)",
        )
    step = np.linalg.norm(np.diff(pos, axis=0), axis=-1)
    if step.size and float(step.max()) > step_lim and math.isfinite(step_lim):
        t, k = np.argwhere(step > step_lim)[0]
        raise InputFileError(
            path,
            f"line {first_line + int(t) + 1}: {_name(int(k))} moved {step[t, k]:.6g} mm in one "
            f"sample, beyond the plausible {step_lim:g} mm (set 'plausible_step_mm' in "
            "sequence.json if it is real)",
        )
