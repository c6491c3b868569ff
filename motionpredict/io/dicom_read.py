"""Reading DICOM: single-frame cine folders, multi-frame cine files, 4DCT phase volumes.

Pipeline
--------
1. **Header scan** of every file with ``stop_before_pixels`` (``pydicom.dcmread``); files that are
   not DICOM are skipped with a warning, known companion files (``*.json``, ``*.mat``...) silently.
   The scan remembers where the PixelData element starts.
2. **Grouping** by SeriesInstanceUID, frame size and orientation. Several groups are refused with
   their list (pick one with ``series=``), except when every file carries its own series UID and all
   files agree on size and orientation (secondary-capture exports such as the ETH and 4DCT data),
   and except one series per respiratory phase (4DCT).
3. **Ordering** (:mod:`motionpredict.io.ordering`), **timing and spacing**
   (:class:`~motionpredict.io.sidecar.MetadataHints`).
4. **Pixels**: uncompressed little-endian data are read straight from the file at the offset
   found by the scan (fast path); anything else goes through ``pydicom`` and, when pydicom
   cannot decode it, SimpleITK. Rescale slope and intercept are applied; the stored type's range
   is recorded.
"""

from __future__ import annotations

import logging
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from motionpredict.errors import InputFileError
from motionpredict.io.ordering import FrameKeys, choose_order, natural_key, parse_dicom_datetime
from motionpredict.io.sidecar import MetadataHints
from motionpredict.sequences import ImageSequence, Provenance

__all__ = ["DicomFile", "MixedSeriesError", "is_dicom_file", "read_dicom", "scan_files"]

log = logging.getLogger("motionpredict.io")

#: Companion files that are expected next to images and never reported.
COMPANION_SUFFIXES = {".json", ".mat", ".csv", ".txt", ".md", ".toml", ".xml", ".pdf", ".png"}

_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_IMPLICIT_LE = "1.2.840.10008.1.2"
_PIXEL_TAG = b"\xe0\x7f\x10\x00"
_FRAME_TIME = 0x00181063
_FRAME_TIME_VECTOR = 0x00181065


class MixedSeriesError(InputFileError):
    """A folder holds several series (or incompatible frames); the message lists them."""


@dataclass
class DicomFile:
    """Header facts of one DICOM file (no pixels).

    Attributes
    ----------
    path
        The file.
    ds
        Its header (``stop_before_pixels``).
    pixel_offset
        File offset of the PixelData element, or ``None`` when there is none.
    """

    path: Path
    ds: Dataset
    pixel_offset: int | None
    series_uid: str = ""
    rows: int = 0
    cols: int = 0
    n_frames: int = 1
    iop: tuple[float, ...] | None = None
    ipp: tuple[float, ...] | None = None
    keys: FrameKeys = field(default_factory=lambda: FrameKeys(Path()))

    @property
    def geometry_key(self) -> tuple:
        """What must agree between frames of one sequence."""
        iop = None if self.iop is None else tuple(round(v, 3) for v in self.iop)
        return (self.rows, self.cols, self.n_frames, iop)


# ---------------------------------------------------------------------------- header helpers
def _get(ds: Dataset, keyword: str) -> Any:
    """Header value or ``None``; malformed values read as ``None`` instead of raising."""
    try:
        value = ds.get(keyword)
    except Exception:  # malformed element values (pydicom conversion errors)
        return None
    if value is None or value == "":
        return None
    return value


def _num(ds: Dataset, keyword: str) -> float | None:
    v = _get(ds, keyword)
    try:
        f = float(v) if v is not None else None
    except (TypeError, ValueError):
        return None
    return f if f is not None and math.isfinite(f) else None


def _vec(ds: Dataset, keyword: str, n: int) -> tuple[float, ...] | None:
    v = _get(ds, keyword)
    try:
        vals = tuple(float(x) for x in v) if v is not None else None
    except (TypeError, ValueError):
        return None
    if vals is None or len(vals) != n or not all(math.isfinite(x) for x in vals):
        return None
    return vals


def _first_item(ds: Dataset, *path: str) -> Dataset | None:
    cur: Dataset | None = ds
    for kw in path:
        seq = _get(cur, kw) if cur is not None else None
        try:
            cur = seq[0] if seq else None
        except (TypeError, IndexError, KeyError):
            return None
    return cur


def is_dicom_file(path: Path) -> bool:
    """``True`` when the file starts with the DICOM preamble (``DICM`` at byte 128)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


#: Top-level attributes the header scan parses (all others are skipped, which is faster).
SCAN_KEYWORDS = (
    "AcquisitionDate",
    "AcquisitionDateTime",
    "AcquisitionTime",
    "BitsAllocated",
    "BitsStored",
    "Columns",
    "FrameIncrementPointer",
    "FrameOfReferenceUID",
    "FrameTime",
    "FrameTimeVector",
    "ImageOrientationPatient",
    "ImagePositionPatient",
    "InstanceNumber",
    "Modality",
    "NumberOfFrames",
    "PerFrameFunctionalGroupsSequence",
    "PixelRepresentation",
    "PixelSpacing",
    "RescaleIntercept",
    "RescaleSlope",
    "Rows",
    "SOPClassUID",
    "SOPInstanceUID",
    "SamplesPerPixel",
    "SeriesDescription",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SharedFunctionalGroupsSequence",
    "SpacingBetweenSlices",
    "StudyInstanceUID",
    "TemporalPositionIdentifier",
    "TriggerTime",
    "SpecificCharacterSet",
)


def _scan_one(path: Path) -> DicomFile:
    try:
        with path.open("rb") as fh:
            ds = pydicom.dcmread(fh, stop_before_pixels=True, specific_tags=list(SCAN_KEYWORDS))
            pos = fh.tell()
            tag = fh.read(4)
    except InvalidDicomError:
        raise
    except Exception as exc:
        raise InputFileError(
            path, f"truncated or corrupt DICOM file ({type(exc).__name__}: {exc})"
        ) from exc
    offset = pos if tag == _PIXEL_TAG else None
    rec = DicomFile(path=path, ds=ds, pixel_offset=offset)
    rec.series_uid = str(_get(ds, "SeriesInstanceUID") or "")
    rec.rows = int(_num(ds, "Rows") or 0)
    rec.cols = int(_num(ds, "Columns") or 0)
    nf = _num(ds, "NumberOfFrames")
    rec.n_frames = int(nf) if nf and nf >= 1 else 1
    if rec.rows <= 0 or rec.cols <= 0:
        size = path.stat().st_size
        raise InputFileError(
            path,
            f"truncated or corrupt DICOM file: no image size (Rows/Columns) in its {size} bytes",
        )
    rec.iop = _vec(ds, "ImageOrientationPatient", 6)
    rec.ipp = _vec(ds, "ImagePositionPatient", 3)
    shared = _first_item(ds, "SharedFunctionalGroupsSequence", "PlaneOrientationSequence")
    if rec.iop is None and shared is not None:
        rec.iop = _vec(shared, "ImageOrientationPatient", 6)
    acq = parse_dicom_datetime(
        _get(ds, "AcquisitionDateTime"), _get(ds, "AcquisitionDate"), _get(ds, "AcquisitionTime")
    )
    rec.keys = FrameKeys(
        path=path,
        temporal_position=_num(ds, "TemporalPositionIdentifier"),
        trigger_time_ms=_num(ds, "TriggerTime"),
        acquisition_s=acq,
        instance_number=_num(ds, "InstanceNumber"),
    )
    return rec


def scan_files(paths: list[Path]) -> tuple[list[DicomFile], list[str], list[str]]:
    """Header-scan files; return (DICOM records, warnings for skipped files, ignored companions).

    Raises
    ------
    InputFileError
        A file with the DICOM preamble cannot be parsed (truncated/corrupt), naming it.
    """
    records: list[DicomFile] = []
    skipped: list[str] = []
    ignored: list[str] = []
    for path in paths:
        if path.name.startswith(".") or path.suffix.lower() in COMPANION_SUFFIXES:
            ignored.append(path.name)
            continue
        try:
            records.append(_scan_one(path))
        except InvalidDicomError:
            msg = f"skipped {path.name}: not a DICOM file"
            log.warning("%s", msg)
            skipped.append(msg)
    return records, skipped, ignored


# ---------------------------------------------------------------------------- pixels
def _raw_range(ds: Dataset) -> tuple[float, float]:
    bits = int(_num(ds, "BitsStored") or _num(ds, "BitsAllocated") or 16)
    if int(_num(ds, "PixelRepresentation") or 0) == 1:
        return float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    return 0.0, float(2**bits - 1)


def _rescale(ds: Dataset) -> tuple[float, float]:
    slope, inter = _num(ds, "RescaleSlope"), _num(ds, "RescaleIntercept")
    if slope is None:
        item = _first_item(ds, "SharedFunctionalGroupsSequence", "PixelValueTransformationSequence")
        if item is not None:
            slope, inter = _num(item, "RescaleSlope"), _num(item, "RescaleIntercept")
    return (1.0 if slope in (None, 0.0) else slope), (inter or 0.0)


def _fast_pixels(rec: DicomFile) -> np.ndarray | None:
    ds = rec.ds
    ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    if rec.pixel_offset is None or ts not in (_EXPLICIT_LE, _IMPLICIT_LE):
        return None
    alloc = int(_num(ds, "BitsAllocated") or 0)
    stored = int(_num(ds, "BitsStored") or alloc)
    signed = int(_num(ds, "PixelRepresentation") or 0) == 1
    if int(_num(ds, "SamplesPerPixel") or 1) != 1 or alloc not in (8, 16, 32):
        return None
    if signed and stored != alloc:
        return None
    dtype = np.dtype(f"<{'i' if signed else 'u'}{alloc // 8}")
    count = rec.n_frames * rec.rows * rec.cols
    with rec.path.open("rb") as fh:
        fh.seek(rec.pixel_offset)
        head = fh.read(12)
        if ts == _EXPLICIT_LE:
            length = int.from_bytes(head[8:12], "little") if head[4:6] in (b"OB", b"OW") else None
            start = 12
        else:
            length, start = int.from_bytes(head[4:8], "little"), 8
        if length is None or length == 0xFFFFFFFF or length < count * dtype.itemsize:
            return None
        fh.seek(rec.pixel_offset + start)
        data = np.fromfile(fh, dtype=dtype, count=count)
    if data.size != count:
        raise InputFileError(rec.path, f"truncated pixel data ({data.size} of {count} values)")
    return data.reshape(rec.n_frames, rec.rows, rec.cols)


def _slow_pixels(rec: DicomFile) -> tuple[np.ndarray, bool]:
    """Stored values via pydicom, else SimpleITK/GDCM; the flag says rescale is already applied."""
    rescaled = False
    try:
        full = pydicom.dcmread(rec.path)
        arr = full.pixel_array
    except Exception as exc:  # pydicom lacks a decoder or the data are damaged
        try:
            import SimpleITK as sitk

            # GDCM applies RescaleSlope / RescaleIntercept itself
            arr = sitk.GetArrayFromImage(sitk.ReadImage(str(rec.path)))
            rescaled = True
        except Exception:
            raise InputFileError(
                rec.path, f"cannot decode the pixel data ({type(exc).__name__}: {exc})"
            ) from exc
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.shape != (rec.n_frames, rec.rows, rec.cols):
        raise InputFileError(
            rec.path,
            f"pixel data of shape {arr.shape} do not match Rows x Columns x frames "
            f"{(rec.n_frames, rec.rows, rec.cols)}",
        )
    return arr, rescaled


#: Transfer syntaxes whose pixel data are stored as plain values (not encapsulated).
_NATIVE_SYNTAXES = (_EXPLICIT_LE, _IMPLICIT_LE, "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99")


def _check_pixel_size(rec: DicomFile) -> None:
    """Compare the size the header declares with the file and the memory, before decoding.

    Raises
    ------
    InputFileError
        The pixel data are shorter than Rows x Columns x frames x samples x bytes (native
        transfer syntax), a compressed transfer syntax holds native (not encapsulated) pixel
        data, or the decoded frames would not fit in memory.
    """
    from motionpredict.io.limits import check_allocation, format_bytes

    ds = rec.ds
    ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    alloc = int(_num(ds, "BitsAllocated") or 16)
    samples = int(_num(ds, "SamplesPerPixel") or 1)
    count = rec.n_frames * rec.rows * rec.cols * samples
    declared = f"{rec.rows} x {rec.cols} pixels x {rec.n_frames} frame(s)"
    assert rec.pixel_offset is not None
    with rec.path.open("rb") as fh:
        fh.seek(rec.pixel_offset)
        head = fh.read(12)
    size = rec.path.stat().st_size
    explicit = ts != _IMPLICIT_LE
    if explicit and head[4:6] in (b"OB", b"OW", b"UN"):
        length, start = int.from_bytes(head[8:12], "little"), 12
    elif explicit and len(head) >= 8 and head[4:6].isalpha():
        length, start = int.from_bytes(head[6:8], "little"), 8
    else:
        length, start = int.from_bytes(head[4:8], "little"), 8
    encapsulated = length == 0xFFFFFFFF
    if ts and ts not in _NATIVE_SYNTAXES and not encapsulated:
        raise InputFileError(
            rec.path,
            f"the transfer syntax {ts} ({_ts_name(ts)}) declares compressed pixel data, but "
            "the pixel data are stored uncompressed; the file header is wrong",
        )
    if not encapsulated:
        need = count * alloc // 8
        have = min(length, max(0, size - rec.pixel_offset - start))
        if have < need:
            raise InputFileError(
                rec.path,
                f"truncated pixel data: the header declares {declared} of {alloc} bits "
                f"({format_bytes(need)}), the file holds {format_bytes(have)}",
            )
    check_allocation(rec.path, count * 4.0 * 2, declared)  # stored values + float32 copy


def _ts_name(uid: str) -> str:
    try:
        return str(pydicom.uid.UID(uid).name)
    except Exception:  # pragma: no cover - unknown UID
        return "unknown"


def read_pixels(rec: DicomFile) -> np.ndarray:
    """``(frames, rows, cols)`` float32 values of one file, rescale slope/intercept applied."""
    if rec.pixel_offset is None:
        size = rec.path.stat().st_size
        raise InputFileError(rec.path, f"no PixelData element: the file ends after its header at "
                                       f"{size} bytes (truncated, or a header-only file)")
    if rec.rows <= 0 or rec.cols <= 0:
        raise InputFileError(rec.path, "Rows/Columns missing or zero")
    _check_pixel_size(rec)
    arr = _fast_pixels(rec)
    rescaled = False
    if arr is None:
        arr, rescaled = _slow_pixels(rec)
    slope, inter = _rescale(rec.ds)
    out = arr.astype(np.float32)
    if not rescaled and (slope != 1.0 or inter != 0.0):
        out = out * np.float32(slope) + np.float32(inter)
    return out


# ---------------------------------------------------------------------------- grouping
def _describe(recs: list[DicomFile]) -> str:
    r = recs[0]
    desc = _get(r.ds, "SeriesDescription") or ""
    size = f"{r.rows}x{r.cols}" + (f"x{r.n_frames} frames" if r.n_frames > 1 else "")
    return f"{r.series_uid or '(no UID)'}: {len(recs)} file(s), {size} {desc}".rstrip()


def _group(
    records: list[DicomFile], folder: Path, series: str | None
) -> tuple[list[list[DicomFile]], list[str]]:
    """Return the groups forming the sequence (one list = one frame group) and notes."""
    notes: list[str] = []
    by_uid: dict[str, list[DicomFile]] = defaultdict(list)
    for r in records:
        by_uid[r.series_uid].append(r)
    if series is not None:
        chosen = [u for u in by_uid if u == series] or [
            u for u in by_uid if u.startswith(series) or u.endswith(series)
        ]
        if len(chosen) != 1:
            listing = _listing([_describe(v) for v in by_uid.values()])
            raise MixedSeriesError(
                folder, f"--series {series!r} matches {len(chosen)} series; available: {listing}"
            )
        by_uid = {chosen[0]: by_uid[chosen[0]]}
    groups = list(by_uid.values())
    if len(groups) > 1 and all(len(g) == 1 for g in groups):
        geos = {g[0].geometry_key for g in groups}
        if len(geos) == 1:
            notes.append(
                "every file carries its own SeriesInstanceUID (secondary-capture export); "
                "the files are read as one sequence"
            )
            return [[g[0] for g in groups]], notes
    if len(groups) > 1:
        # one series per respiratory phase: identical geometry and slice count, several slices
        geos = {(g[0].geometry_key, len(g)) for g in groups}
        if len(geos) == 1 and len(groups[0]) > 1 and _distinct_positions(groups[0]):
            notes.append(f"{len(groups)} series with identical geometry read as respiratory phases")
            return groups, notes
        listing = _listing([_describe(v) for v in groups])
        raise MixedSeriesError(
            folder,
            f"the folder holds {len(groups)} series ({listing}); pick one with --series UID",
        )
    return groups, notes


def _listing(items: list[str], show: int = 3) -> str:
    """The first ``show`` items and how many more: a message stays one readable line."""
    text = "; ".join(items[:show])
    if len(items) > show:
        text += f"; and {len(items) - show} more"
    return text


def _distinct_positions(recs: list[DicomFile]) -> bool:
    pos = [r.ipp for r in recs if r.ipp is not None]
    return len(pos) == len(recs) and len(
        {tuple(round(v, 3) for v in p) for p in pos}
    ) == len(pos)


def _check_sizes(recs: list[DicomFile], folder: Path) -> None:
    geos: dict[tuple, list[str]] = defaultdict(list)
    for r in recs:
        geos[r.geometry_key].append(r.path.name)
    if len(geos) > 1:
        parts = [
            f"{k[0]}x{k[1]}"
            + (f"x{k[2]}" if k[2] > 1 else "")
            + f" ({len(v)} file(s), e.g. {v[0]})"
            for k, v in geos.items()
        ]
        raise MixedSeriesError(
            folder, "inconsistent frame sizes or orientations: " + ", ".join(parts)
        )


# ---------------------------------------------------------------------------- geometry
def _pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    sp = _vec(ds, "PixelSpacing", 2)
    if sp is None:
        item = _first_item(ds, "SharedFunctionalGroupsSequence", "PixelMeasuresSequence")
        sp = _vec(item, "PixelSpacing", 2) if item is not None else None
    if sp is None or not all(s > 0 for s in sp):
        return None
    return sp[0], sp[1]  # DICOM order: (row spacing, column spacing) = array order


def _normal(iop: tuple[float, ...] | None) -> np.ndarray:
    if iop is None:
        return np.array([0.0, 0.0, 1.0])
    r, c = np.asarray(iop[:3]), np.asarray(iop[3:])
    n = np.cross(r, c)
    return n / (np.linalg.norm(n) or 1.0)


def _direction3(iop: tuple[float, ...] | None, slice_dir: np.ndarray) -> np.ndarray | None:
    """Array-order direction (slice, row, col axes) of a volume; ``None`` if not orthonormal."""
    if iop is None:
        return None
    r, c = np.asarray(iop[:3]), np.asarray(iop[3:])
    sitk_dir = np.stack([r, c, slice_dir], axis=1)  # columns: x (col index), y (row), z (slice)
    arr = sitk_dir[::-1, ::-1].copy()
    if abs(abs(np.linalg.det(arr)) - 1) > 1e-3:
        return None
    return arr


def _frame_positions(rec: DicomFile) -> list[tuple[float, ...]] | None:
    per = _get(rec.ds, "PerFrameFunctionalGroupsSequence")
    if not per:
        return None
    out = []
    try:
        for item in per:
            pp = _first_item(item, "PlanePositionSequence")
            v = _vec(pp, "ImagePositionPatient", 3) if pp is not None else None
            if v is None:
                return None
            out.append(v)
    except TypeError:
        return None
    return out if len(out) == rec.n_frames else None


def _volume_geometry(
    positions: list[tuple[float, ...]] | None, rec: DicomFile
) -> tuple[float | None, tuple[float, ...] | None, np.ndarray | None, list[int]]:
    """Slice spacing, origin (array order), direction and slice order of one volume."""
    n = len(positions) if positions else rec.n_frames
    order = list(range(n))
    normal = _normal(rec.iop)
    dz = None
    origin = None
    if positions is not None and len(positions) == n and n > 1:
        proj = np.asarray(positions) @ normal
        order = [int(i) for i in np.argsort(proj, kind="stable")]
        steps = np.diff(proj[order])
        if np.all(steps > 1e-6):
            dz = float(np.median(steps))
        origin = tuple(float(v) for v in np.asarray(positions[order[0]])[::-1])
    if dz is None:
        dz = _num(rec.ds, "SpacingBetweenSlices")
        item = _first_item(rec.ds, "SharedFunctionalGroupsSequence", "PixelMeasuresSequence")
        if dz is None and item is not None:
            dz = _num(item, "SpacingBetweenSlices")
    direction = _direction3(rec.iop, normal)
    if origin is None and rec.ipp is not None:
        origin = tuple(float(v) for v in rec.ipp[::-1])
    return (dz if dz and dz > 0 else None), origin, direction, order


# ---------------------------------------------------------------------------- timing
def _times_from_keys(keys: list[FrameKeys]) -> tuple[np.ndarray | None, str | None]:
    """Header times (s) in frame order, and a problem description if they are unusable."""
    acq = [k.acquisition_s for k in keys]
    if all(a is not None for a in acq):
        t = np.asarray(acq, dtype=np.float64)
        if len(t) > 1 and np.ptp(t) > 12 * 3600:  # midnight crossing without dates
            t = np.where(t < t[0], t + 86400.0, t)
        steps = np.diff(t)
        if len(t) > 1 and np.any(steps <= 0):
            i = int(np.argmax(steps <= 0))
            what = "duplicated" if steps[i] == 0 else "not increasing"
            return None, (
                f"acquisition times are {what}: {keys[i + 1].path.name} ({t[i + 1] - t[0]:.4f} s)"
                f" after {keys[i].path.name} ({t[i] - t[0]:.4f} s)"
            )
        return t, None
    trig = [k.trigger_time_ms for k in keys]
    if all(v is not None for v in trig) and len(set(trig)) == len(trig):
        t = np.asarray(trig, dtype=np.float64) / 1000.0
        if len(t) > 1 and np.any(np.diff(t) <= 0):
            return None, "trigger times are not increasing in frame order"
        return t, None
    return None, None


def _multiframe_times(rec: DicomFile) -> np.ndarray | None:
    ds = rec.ds
    ft = _num(ds, "FrameTime")
    ftv = _get(ds, "FrameTimeVector")
    if ftv is not None:
        try:
            v = np.asarray([float(x) for x in ftv], dtype=np.float64)
        except (TypeError, ValueError):
            v = None
        if v is not None and v.size == rec.n_frames and np.all(np.isfinite(v)):
            v[0] = 0.0
            return np.cumsum(v) / 1000.0
    if ft is not None and ft > 0:
        return np.arange(rec.n_frames, dtype=np.float64) * ft / 1000.0
    per = _get(ds, "PerFrameFunctionalGroupsSequence")
    if per:
        out = []
        try:
            for item in per:
                fc = _first_item(item, "FrameContentSequence")
                when = parse_dicom_datetime(_get(fc, "FrameAcquisitionDateTime")) if fc else None
                if when is None:
                    return None
                out.append(when)
        except TypeError:
            return None
        return np.asarray(out) if len(out) == rec.n_frames else None
    return None


def _is_multiframe_cine(rec: DicomFile) -> bool:
    ptr = _get(rec.ds, "FrameIncrementPointer")
    if isinstance(ptr, (int, str, bytes)):
        ptr = [ptr]
    try:
        ptrs = [int(p) for p in ptr] if ptr is not None else []
    except (TypeError, ValueError):
        ptrs = []
    if any(p in (_FRAME_TIME, _FRAME_TIME_VECTOR) for p in ptrs):
        return True
    positions = _frame_positions(rec)
    if positions is not None:
        return len({tuple(round(v, 3) for v in p) for p in positions}) == 1
    return False


# ---------------------------------------------------------------------------- entry point
def list_folder(folder: Path) -> list[Path]:
    """Regular files of a folder in natural name order (not recursive)."""
    return sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: natural_key(p.name))


def read_dicom(path: Path, hints: MetadataHints, *, series: str | None = None) -> ImageSequence:
    """Read a DICOM folder or file into an :class:`ImageSequence`.

    Parameters
    ----------
    path
        A folder of DICOM files (any extension) or one (multi-frame) DICOM file.
    hints
        Frame period / spacing sources besides the headers.
    series
        SeriesInstanceUID (or a unique prefix/suffix of it) to pick from a mixed folder.

    Raises
    ------
    InputFileError
        Empty folder, corrupt file, missing pixels, inconsistent sizes, mixed series (listed).
    MissingMetadataError
        Spacing or frame period unknown (names the option to pass).
    """
    files = list_folder(path) if path.is_dir() else [path]
    records, skipped, ignored = scan_files(files)
    if not records:
        what = "is empty" if not files else "contains no DICOM file"
        raise InputFileError(path, f"the folder {what}" if path.is_dir() else "not a DICOM file")
    groups, notes = _group(records, path, series)
    warnings_: list[str] = [*skipped, *notes]
    flat = [r for g in groups for r in g]
    _check_sizes(flat, path)

    if len(groups) > 1:
        seq = _read_phase_series(groups, path, hints)
    else:
        recs = groups[0]
        if all(r.n_frames == 1 for r in recs):
            if (
                len(recs) > 1
                and recs[0].ipp is not None
                and _distinct_positions(recs)
                and not any(r.keys.temporal_position is not None for r in recs)
                and _slices_along_normal(recs)
            ):
                raise InputFileError(
                    path,
                    f"the {len(recs)} files are slices of one 3D volume, not a time series; "
                    "a 4DCT needs one series (or one multi-frame file) per phase",
                )
            seq = _read_cine_files(recs, path, hints)
        elif len(recs) == 1:
            if not _is_multiframe_cine(recs[0]):
                raise InputFileError(
                    recs[0].path,
                    "a single multi-frame volume is not a time series (no FrameTime / "
                    "FrameTimeVector and frames at different positions); give a folder of phases",
                )
            seq = _read_multiframe_cine(recs[0], hints)
        else:
            seq = _read_phase_files(recs, path, hints)
    seq.provenance.source = str(path)
    seq.provenance.warnings = [*warnings_, *hints.warnings, *seq.provenance.warnings]
    if ignored:
        seq.provenance.extra["ignored_files"] = ignored
    seq.provenance.extra["n_files"] = len(flat)
    if hints.card is not None:
        seq.provenance.extra["dataset_card"] = hints.card.name
        seq.provenance.extra["dataset_card_from"] = hints.card_origin
    if hints.sidecar is not None:
        seq.provenance.extra["sidecar"] = str(hints.sidecar.path)
    return seq


def _slices_along_normal(recs: list[DicomFile]) -> bool:
    n = _normal(recs[0].iop)
    proj = np.asarray([r.ipp for r in recs]) @ n
    return bool(np.ptp(proj) > 1e-3)


def _dicom_extra(rec: DicomFile) -> dict[str, Any]:
    ds = rec.ds
    out: dict[str, Any] = {
        "series_instance_uid": rec.series_uid,
        "study_instance_uid": str(_get(ds, "StudyInstanceUID") or ""),
        "frame_of_reference_uid": str(_get(ds, "FrameOfReferenceUID") or ""),
        "modality": str(_get(ds, "Modality") or "OT"),
        "image_orientation_patient": list(rec.iop) if rec.iop else None,
        "image_position_patient": list(rec.ipp) if rec.ipp else None,
        "series_description": str(_get(ds, "SeriesDescription") or ""),
        "first_file": str(rec.path),
    }
    return out


def _finish(
    frames: np.ndarray,
    rec0: DicomFile,
    spacing_hdr: tuple[float, ...] | None,
    header_times: np.ndarray | None,
    problem: str | None,
    ordering: str,
    hints: MetadataHints,
    where: Path,
    *,
    origin: tuple[float, ...] | None = None,
    direction: np.ndarray | None = None,
    period_source_header: bool = False,
    sop_uids: list[str] | None = None,
) -> ImageSequence:
    ndim = frames.ndim - 1
    if spacing_hdr is None and _get(rec0.ds, "PixelSpacing") is not None:
        hints.warnings.append(
            f"{rec0.path.name}: PixelSpacing {_get(rec0.ds, 'PixelSpacing')!s} is not two "
            "positive numbers (mm); ignored"
        )
    spacing, sp_src = hints.resolve_spacing(spacing_hdr, ndim, where)
    times, t_src = hints.resolve_times(header_times, frames.shape[0], where, problem)
    if period_source_header and t_src == "acquisition-times":
        t_src = "header"
    extra: dict[str, Any] = {"dicom": _dicom_extra(rec0)}
    if sop_uids:
        extra["dicom"]["n_sop_instances"] = len(sop_uids)
    slope, inter = _rescale(rec0.ds)
    lo, hi = _raw_range(rec0.ds)
    extra["rescaled_range"] = (lo * slope + inter, hi * slope + inter)
    prov = Provenance(
        ordering=ordering,
        spacing_source=sp_src,
        frame_period_source=t_src,
        raw_range=(lo, hi),
        extra=extra,
    )
    return ImageSequence(
        frames=frames,
        spacing=spacing,
        times=times,
        origin=origin,
        direction=direction,
        provenance=prov,
    )


def _read_cine_files(recs: list[DicomFile], where: Path, hints: MetadataHints) -> ImageSequence:
    order, key = choose_order([r.keys for r in recs])
    recs = [recs[i] for i in order]
    if recs[0].pixel_offset is not None:
        _check_pixel_size(recs[0])  # before allocating the stack its header declares
    from motionpredict.io.limits import check_allocation

    check_allocation(where, 4.0 * len(recs) * recs[0].rows * recs[0].cols,
                     f"{len(recs)} frames of {recs[0].rows} x {recs[0].cols} pixels")
    frames = np.empty((len(recs), recs[0].rows, recs[0].cols), dtype=np.float32)
    for i, r in enumerate(recs):
        frames[i] = read_pixels(r)[0]
    header_times, problem = _times_from_keys([r.keys for r in recs])
    return _finish(
        frames,
        recs[0],
        _pixel_spacing(recs[0].ds),
        header_times,
        problem,
        key,
        hints,
        where,
        sop_uids=[str(_get(r.ds, "SOPInstanceUID") or "") for r in recs],
    )


def _read_multiframe_cine(rec: DicomFile, hints: MetadataHints) -> ImageSequence:
    frames = read_pixels(rec)
    times = _multiframe_times(rec)
    return _finish(
        frames,
        rec,
        _pixel_spacing(rec.ds),
        times,
        None,
        "frame-index",
        hints,
        rec.path,
        period_source_header=True,
    )


def _read_phase_files(recs: list[DicomFile], where: Path, hints: MetadataHints) -> ImageSequence:
    """One multi-frame volume per file = one respiratory phase per file."""
    order, key = choose_order([r.keys for r in recs])
    recs = [recs[i] for i in order]
    positions = _frame_positions(recs[0])
    dz, origin, direction, slice_order = _volume_geometry(positions, recs[0])
    vols = np.stack([read_pixels(r)[slice_order] for r in recs])
    inplane = _pixel_spacing(recs[0].ds)
    sp = None if inplane is None or dz is None else (dz, *inplane)
    header_times, problem = _times_from_keys([r.keys for r in recs])
    return _finish(
        vols,
        recs[0],
        sp,
        header_times,
        problem,
        key,
        hints,
        where,
        origin=origin,
        direction=direction,
        sop_uids=[str(_get(r.ds, "SOPInstanceUID") or "") for r in recs],
    )


_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")


def _read_phase_series(
    groups: list[list[DicomFile]], where: Path, hints: MetadataHints
) -> ImageSequence:
    """One series of single-frame slices per respiratory phase (TCIA 4D-Lung layout)."""
    firsts = [g[0] for g in groups]
    pct = []
    for r in firsts:
        m = _PERCENT.search(str(_get(r.ds, "SeriesDescription") or ""))
        pct.append(float(m.group(1)) if m else None)
    keys = [
        FrameKeys(
            path=r.path,
            temporal_position=r.keys.temporal_position,
            trigger_time_ms=r.keys.trigger_time_ms,
            acquisition_s=None,
            instance_number=pct[i]
            if all(p is not None for p in pct)
            else _num(r.ds, "SeriesNumber"),
        )
        for i, r in enumerate(firsts)
    ]
    order, key = choose_order(keys)
    if key == "InstanceNumber":
        key = "SeriesDescription-percent" if all(p is not None for p in pct) else "SeriesNumber"
    groups = [groups[i] for i in order]
    vols = []
    geo = None
    for g in groups:
        positions = [r.ipp for r in g]
        dz, origin, direction, sl = _volume_geometry(positions, g[0])  # type: ignore[arg-type]
        if geo is None:
            geo = (dz, origin, direction)
        vols.append(np.stack([read_pixels(g[i])[0] for i in sl]))
    assert geo is not None
    inplane = _pixel_spacing(groups[0][0].ds)
    sp = None if inplane is None or geo[0] is None else (geo[0], *inplane)
    header_times, problem = _times_from_keys(
        [FrameKeys(path=g[0].path, acquisition_s=g[0].keys.acquisition_s) for g in groups]
    )
    return _finish(
        np.stack(vols),
        groups[0][0],
        sp,
        header_times,
        problem,
        key,
        hints,
        where,
        origin=geo[1],
        direction=geo[2],
    )
