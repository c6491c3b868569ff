"""Temporal ordering of frames read from separate files.

The first *reliable* key wins, where reliable means present in every file and never repeated:

1. ``TemporalPositionIdentifier`` (0020,0100)
2. ``TriggerTime`` (0018,1060)
3. acquisition date and time: ``AcquisitionDateTime`` or ``AcquisitionDate`` + ``AcquisitionTime``
4. ``InstanceNumber`` (0020,0013)
5. the number inside the file name, compared numerically (``image10`` after ``image9``)
6. the file name itself (natural order), with a warning

``ContentTime`` is never used: it is when the file was written, not when the frame was acquired.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

import numpy as np

__all__ = [
    "ORDER_KEYS",
    "FrameKeys",
    "choose_order",
    "file_name_number",
    "natural_key",
    "parse_dicom_datetime",
]

#: Names reported in ``provenance.ordering``, in order of preference.
ORDER_KEYS = (
    "TemporalPositionIdentifier",
    "TriggerTime",
    "AcquisitionDateTime",
    "InstanceNumber",
    "file-name-number",
    "file-name",
)

_NUM = re.compile(r"(\d+)")


@dataclass
class FrameKeys:
    """Ordering keys of one file (``None`` when absent or unreadable).

    Attributes
    ----------
    path
        The file.
    temporal_position, trigger_time_ms, acquisition_s, instance_number
        Header values; ``acquisition_s`` is seconds since an arbitrary epoch.
    """

    path: Path
    temporal_position: float | None = None
    trigger_time_ms: float | None = None
    acquisition_s: float | None = None
    instance_number: float | None = None


def natural_key(name: str) -> tuple:
    """Sort key comparing digit runs as numbers: ``image9 < image10``."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in _NUM.split(name))


def file_name_number(path: Path) -> int | None:
    """The last number in the file's stem (``image12.dcm`` -> 12), or ``None``."""
    nums = _NUM.findall(
        path.stem if path.suffix.lower() in {".dcm", ".ima", ".dicom"} else path.name
    )
    return int(nums[-1]) if nums else None


def _float(text: str) -> float | None:
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def parse_dicom_time(tm: str) -> float | None:
    """Seconds since midnight of a DICOM TM (``HHMMSS.FFFFFF`` or ``HH:MM:SS``); ``None`` if bad."""
    tm = str(tm).strip().replace(":", "")
    m = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(\.\d{1,6})?", tm)
    if not m:
        return None
    h, mi, s = int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)
    if h > 23 or mi > 59 or s > 60:
        return None
    return h * 3600 + mi * 60 + s + (float(m.group(4)) if m.group(4) else 0.0)


def parse_dicom_date(da: str) -> float | None:
    """Seconds since 1970-01-01 of a DICOM DA (``YYYYMMDD``); ``None`` if malformed."""
    da = str(da).strip().replace(".", "").replace("-", "")
    if not re.fullmatch(r"\d{8}", da):
        return None
    try:
        d = _dt.date(int(da[:4]), int(da[4:6]), int(da[6:8]))
    except ValueError:
        return None
    return (d - _dt.date(1970, 1, 1)).days * 86400.0


def parse_dicom_datetime(
    dt: str | None = None, da: str | None = None, tm: str | None = None
) -> float | None:
    """Acquisition instant in s from a DT, or from DA + TM (TM alone gives seconds of the day).

    The UTC offset suffix of a DT is ignored (all frames of a series share it).
    """
    if dt:
        text = re.split(r"[+-]", str(dt).strip())[0]
        if len(text) >= 8:
            day = parse_dicom_date(text[:8])
            rest = text[8:]
            tod = parse_dicom_time(rest) if rest else 0.0
            if day is not None and tod is not None:
                return day + tod
    if tm:
        tod = parse_dicom_time(tm)
        if tod is None:
            return None
        day = parse_dicom_date(da) if da else None
        return tod if day is None else day + tod
    return None


def _reliable(values: Sequence[float | None]) -> TypeGuard[Sequence[float]]:
    """True when every value is present and no two are equal (a usable ordering key)."""
    if any(v is None for v in values):
        return False
    arr = np.asarray(values, dtype=np.float64)
    return bool(np.unique(arr).size == arr.size)


def choose_order(frames: Sequence[FrameKeys]) -> tuple[list[int], str]:
    """Return the frame order and the key that gave it.

    Parameters
    ----------
    frames
        Keys of every file of one series.

    Returns
    -------
    order
        Indices into ``frames``, in temporal order.
    key
        One of :data:`ORDER_KEYS`.
    """
    if len(frames) <= 1:
        return list(range(len(frames))), "single-file"
    candidates: list[tuple[str, list[float | None]]] = [
        ("TemporalPositionIdentifier", [f.temporal_position for f in frames]),
        ("TriggerTime", [f.trigger_time_ms for f in frames]),
        ("AcquisitionDateTime", [f.acquisition_s for f in frames]),
        ("InstanceNumber", [f.instance_number for f in frames]),
        ("file-name-number", [file_name_number(f.path) for f in frames]),
    ]
    for name, values in candidates:
        if _reliable(values):
            keys = [(v, f.path.name) for v, f in zip(values, frames, strict=True)]
            order = sorted(range(len(frames)), key=keys.__getitem__)
            return order, name
    order = sorted(range(len(frames)), key=lambda i: natural_key(frames[i].path.name))
    return order, "file-name"
