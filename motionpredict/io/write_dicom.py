"""Predicted frames as a DICOM derived series.

Each export is a new series (new Series and SOP Instance UIDs) of Secondary Capture objects with
``ImageType = DERIVED\\SECONDARY``, a ``DerivationDescription`` naming method and horizon, a
reference to the source series (``ReferencedSeriesSequence``, ``SourceImageSequence``), and the
source's geometry: pixel spacing, orientation, position, frame of reference. 2D frames give one
file per frame; 3D volumes one multi-frame file per time point (per-frame plane positions in
functional groups, as the 4DCT reference data).

Timing is stored three ways so any reader finds it: ``AcquisitionDateTime`` (and Date/Time),
``TriggerTime`` (ms from the first frame) and ``TemporalPositionIdentifier``. Values are stored as
16-bit integers with ``RescaleSlope``/``RescaleIntercept`` chosen to cover the data range (integer
data in range are stored exactly, slope 1). Every file is written atomically, and a new series
folder appears only once complete (written in a hidden sibling folder, then renamed).

Unless ``keep_identifiers=True``, each file is de-identified per DICOM PS3.15 Annex E
(:mod:`motionpredict.io.deidentify`); acquisition dates are moved to 2000-01-01.
"""

from __future__ import annotations

import copy
import datetime as _dt
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from motionpredict import __version__
from motionpredict.errors import InputFileError, ValidationError
from motionpredict.io.atomic import atomic_path
from motionpredict.io.deidentify import EPOCH, UIDMapper, deidentify
from motionpredict.io.ordering import natural_key, parse_dicom_datetime
from motionpredict.sequences import ImageSequence

__all__ = ["encode_pixels", "write_dicom_series"]

SC_IMAGE = "1.2.840.10008.5.1.4.1.1.7"
SC_MULTIFRAME_WORD = "1.2.840.10008.5.1.4.1.1.7.3"

#: Source attributes never copied into the derived objects (image-specific).
_DROP = {
    "PixelData",
    "NumberOfFrames",
    "FrameIncrementPointer",
    "FrameTime",
    "FrameTimeVector",
    "FrameLabelVector",
    "SharedFunctionalGroupsSequence",
    "PerFrameFunctionalGroupsSequence",
    "WindowCenter",
    "WindowWidth",
    "WindowCenterWidthExplanation",
    "SmallestImagePixelValue",
    "LargestImagePixelValue",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "ImageType",
    "SOPClassUID",
    "SOPInstanceUID",
    "SeriesInstanceUID",
    "SeriesNumber",
    "InstanceNumber",
    "SeriesDescription",
    "ReferencedImageSequence",
    "IconImageSequence",
    "SourceImageSequence",
    "DerivationDescription",
    "DerivationCodeSequence",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "Rows",
    "Columns",
    "PixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "ImagePositionPatient",
    "SliceLocation",
    "TemporalPositionIdentifier",
    "NumberOfTemporalPositions",
    "TriggerTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "AcquisitionDateTime",
    "ContentDate",
    "ContentTime",
    "AcquisitionNumber",
    "ConversionType",
    "LossyImageCompression",
    "PixelPaddingValue",
}


def encode_pixels(frames: np.ndarray) -> tuple[np.ndarray, float, float, bool]:
    """Choose a 16-bit storage for float values.

    Returns
    -------
    stored, slope, intercept, signed
        ``frames ~ stored * slope + intercept``; integer-valued data within the uint16 / int16
        range are stored exactly with slope 1 and intercept 0.
    """
    lo, hi = float(frames.min()), float(frames.max())
    if np.all(frames == np.round(frames)):
        if lo >= 0 and hi <= 65535:
            return frames.astype(np.uint16), 1.0, 0.0, False
        if lo >= -32768 and hi <= 32767:
            return frames.astype(np.int16), 1.0, 0.0, True
    span = hi - lo
    slope = float(f"{(span / 65535.0 if span > 0 else 1.0):.10g}")
    inter = float(f"{lo:.10g}")
    stored = np.clip(np.round((frames - inter) / slope), 0, 65535).astype(np.uint16)
    return stored, slope, inter, False


def _source_header(source: ImageSequence | str | Path | None) -> Dataset | None:
    if source is None:
        return None
    if isinstance(source, ImageSequence):
        first = source.provenance.extra.get("dicom", {}).get("first_file")
        if not first:
            return None
        path = Path(first)
    else:
        path = Path(source)
        if path.is_dir():
            files = sorted(
                (p for p in path.iterdir() if p.is_file()), key=lambda p: natural_key(p.name)
            )
            for f in files:
                try:
                    return pydicom.dcmread(f, stop_before_pixels=True)
                except Exception:  # not DICOM: try the next file
                    continue
            raise InputFileError(path, "no DICOM file to use as the source series")
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as exc:
        raise InputFileError(path, f"cannot read the source DICOM header ({exc})") from exc


def _fmt_dt(instant: _dt.datetime) -> tuple[str, str, str]:
    return (
        instant.strftime("%Y%m%d"),
        instant.strftime("%H%M%S.%f"),
        instant.strftime("%Y%m%d%H%M%S.%f"),
    )


def _orientation(seq: ImageSequence) -> tuple[list[float], list[float], list[float]]:
    """IOP row/column cosines and slice normal (patient x, y, z) from the array direction."""
    d = np.asarray(seq.direction, dtype=float)
    if seq.ndim == 2:
        col_dir = [d[1, 1], d[0, 1], 0.0]  # direction of increasing column index
        row_dir = [d[1, 0], d[0, 0], 0.0]
        return col_dir, row_dir, list(np.cross(col_dir, row_dir))
    return list(d[::-1, 2]), list(d[::-1, 1]), list(d[::-1, 0])


def write_dicom_series(
    seq: ImageSequence,
    out_dir: str | Path,
    *,
    description: str,
    source: ImageSequence | str | Path | None = None,
    keep_identifiers: bool = False,
    uid_mapper: UIDMapper | None = None,
) -> list[Path]:
    """Write ``seq`` as a derived DICOM series into ``out_dir``.

    Parameters
    ----------
    seq
        Frames ``(T, H, W)`` or ``(T, D, H, W)``; spacing (mm), times (s), geometry.
    out_dir
        Output folder (created). Files are ``frame0001.dcm ...`` (``phase0001.dcm`` for volumes).
    description
        What was derived, e.g. ``"predicted frames, method=lms, horizon=0.5 s"``; stored as
        DerivationDescription and SeriesDescription.
    source
        The series the frames derive from: an :class:`ImageSequence` loaded from DICOM, or a DICOM
        file/folder. Its patient/study/equipment attributes, orientation, position and frame of
        reference are copied (then de-identified) and the series is referenced.
    keep_identifiers
        Keep the source's identifying attributes (no PS3.15 de-identification).
    uid_mapper
        UID replacement to share between several exports (consistent remapping); a fresh one
        by default.

    Returns
    -------
    list of Path
        The written files, in temporal order.
    """
    if not description or not description.strip():
        raise ValidationError("write_dicom_series needs a description (method and horizon)")
    out = Path(out_dir)
    fresh = not out.exists() or (out.is_dir() and not any(out.iterdir()))
    # a new series is written into a hidden sibling folder renamed at the end: an interrupted
    # export leaves no partial series; into a non-empty folder each file is still atomic
    target = out.with_name(f".{out.name}.tmp-{generate_uid()[-8:]}") if fresh else out
    target.mkdir(parents=True, exist_ok=True)
    try:
        files = _write_series(seq, target, description, source, keep_identifiers, uid_mapper)
    except BaseException:
        if fresh:
            shutil.rmtree(target, ignore_errors=True)
        raise
    if fresh:
        os.replace(target, out)
        files = [out / f.name for f in files]
    return files


def _write_series(
    seq: ImageSequence,
    out: Path,
    description: str,
    source: ImageSequence | str | Path | None,
    keep_identifiers: bool,
    uid_mapper: UIDMapper | None,
) -> list[Path]:
    src = _source_header(source)
    uids = uid_mapper or UIDMapper()
    series_uid = generate_uid()
    stored, slope, inter, signed = encode_pixels(seq.frames)
    col_dir, row_dir, normal = _orientation(seq)
    src_iop = None
    if src is not None and "ImageOrientationPatient" in src:
        src_iop = [float(v) for v in src.ImageOrientationPatient]
    if src_iop is not None and len(src_iop) == 6 and seq.ndim == 2:
        col_dir, row_dir = src_iop[:3], src_iop[3:]
        normal = list(np.cross(col_dir, row_dir))
    if src is not None and seq.ndim == 2 and "ImagePositionPatient" in src:
        ipp0 = [float(v) for v in src.ImagePositionPatient]
    else:
        origin = (0.0,) * seq.ndim if seq.origin is None else seq.origin  # None: zeros
        ipp0 = [origin[1], origin[0], 0.0] if seq.ndim == 2 else list(origin[::-1])
    base = _dt.datetime.combine(EPOCH, _dt.time(0, 0, 0))
    if keep_identifiers and src is not None:
        t0 = parse_dicom_datetime(
            src.get("AcquisitionDateTime"), src.get("AcquisitionDate"), src.get("AcquisitionTime")
        )
        if t0 is not None and t0 > 86400:
            base = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=t0)
    frame_uid = str(src.get("FrameOfReferenceUID", "")) if src is not None else ""
    frame_uid = frame_uid or generate_uid()
    rel = seq.times - seq.times[0]
    written: list[Path] = []
    name = "frame" if seq.ndim == 2 else "phase"
    for i in range(seq.n_frames):
        ds = _base_dataset(src, keep_identifiers)
        instant = base + _dt.timedelta(seconds=float(rel[i]))
        da, tm, dt = _fmt_dt(instant)
        ds.SOPClassUID = SC_IMAGE if seq.ndim == 2 else SC_MULTIFRAME_WORD
        ds.SOPInstanceUID = generate_uid()
        ds.SeriesInstanceUID = series_uid
        if "StudyInstanceUID" not in ds or not ds.StudyInstanceUID:
            ds.StudyInstanceUID = uids("motionpredict-study-" + series_uid)
        ds.FrameOfReferenceUID = frame_uid
        ds.Modality = str(src.get("Modality", "OT")) if src is not None else "OT"
        ds.ConversionType = "WSD"
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.SeriesDescription = description[:64]
        ds.DerivationDescription = description[:1024]
        ds.SeriesNumber = 9000 + (
            int(src.get("SeriesNumber") or 0) % 1000 if src is not None else 0
        )
        ds.InstanceNumber = i + 1
        ds.TemporalPositionIdentifier = i + 1
        ds.NumberOfTemporalPositions = seq.n_frames
        ds.TriggerTime = f"{rel[i] * 1000.0:.6g}"
        ds.AcquisitionDate, ds.AcquisitionTime, ds.AcquisitionDateTime = da, tm, dt
        ds.ContentDate, ds.ContentTime = da, tm
        ds.SecondaryCaptureDeviceManufacturer = "motionpredict"
        ds.SecondaryCaptureDeviceManufacturerModelName = "motionpredict"
        ds.SecondaryCaptureDeviceSoftwareVersions = __version__
        ds.ImageOrientationPatient = [f"{v:.8g}" for v in (*col_dir, *row_dir)]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1 if signed else 0
        ds.RescaleSlope = f"{slope:.10g}"
        ds.RescaleIntercept = f"{inter:.10g}"
        ds.RescaleType = "US"
        _reference_source(ds, src, source)
        if seq.ndim == 2:
            ds.Rows, ds.Columns = seq.shape
            ds.PixelSpacing = [f"{seq.spacing[0]:.10g}", f"{seq.spacing[1]:.10g}"]
            ds.ImagePositionPatient = [f"{v:.8g}" for v in ipp0]
            pixels = stored[i]
        else:
            _volume_module(ds, seq, ipp0, normal)
            pixels = stored[i]
        ds.PixelData = np.ascontiguousarray(pixels.astype("<u2" if not signed else "<i2")).tobytes()
        if not keep_identifiers:
            deidentify(ds, uids)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        ds.preamble = b"\0" * 128
        path = out / f"{name}{i + 1:04d}.dcm"
        with atomic_path(path) as tmp:
            ds.save_as(tmp, enforce_file_format=True)
        written.append(path)
    return written


def _base_dataset(src: Dataset | None, keep_identifiers: bool) -> Dataset:
    ds = Dataset()
    if src is None:
        ds.PatientName = ""
        ds.PatientID = ""
        ds.PatientBirthDate = ""
        ds.PatientSex = ""
        ds.StudyDate = ""
        ds.StudyTime = ""
        ds.StudyID = ""
        ds.AccessionNumber = ""
        ds.ReferringPhysicianName = ""
        return ds
    for elem in src:
        if elem.keyword in _DROP or elem.tag.group == 0x0002:
            continue
        if not keep_identifiers and elem.tag.is_private:
            continue
        ds.add(copy.deepcopy(elem))
    return ds


def _reference_source(ds: Dataset, src: Dataset | None, source: object) -> None:
    if src is None:
        return
    ref = Dataset()
    ref.SeriesInstanceUID = str(src.get("SeriesInstanceUID", ""))
    ds.ReferencedSeriesSequence = [ref]
    if "SOPInstanceUID" in src and "SOPClassUID" in src:
        img = Dataset()
        img.ReferencedSOPClassUID = src.SOPClassUID
        img.ReferencedSOPInstanceUID = src.SOPInstanceUID
        ds.SourceImageSequence = [img]


def _volume_module(
    ds: Dataset, seq: ImageSequence, ipp0: Sequence[float], normal: Sequence[float]
) -> None:
    nz, ny, nx = seq.shape
    dz, dy, dx = seq.spacing
    ds.NumberOfFrames = nz
    ds.Rows, ds.Columns = ny, nx
    ds.PixelSpacing = [f"{dy:.10g}", f"{dx:.10g}"]
    ds.SliceThickness = f"{dz:.10g}"
    ds.SpacingBetweenSlices = f"{dz:.10g}"
    ds.ImagePositionPatient = [f"{v:.8g}" for v in ipp0]
    shared = Dataset()
    pm = Dataset()
    pm.PixelSpacing = ds.PixelSpacing
    pm.SliceThickness = ds.SliceThickness
    pm.SpacingBetweenSlices = ds.SpacingBetweenSlices
    po = Dataset()
    po.ImageOrientationPatient = ds.ImageOrientationPatient
    shared.PixelMeasuresSequence = [pm]
    shared.PlaneOrientationSequence = [po]
    ds.SharedFunctionalGroupsSequence = [shared]
    per = []
    n = np.asarray(normal, dtype=float)
    for k in range(nz):
        item = Dataset()
        pp = Dataset()
        pp.ImagePositionPatient = [f"{v:.8g}" for v in (np.asarray(ipp0) + k * dz * n)]
        item.PlanePositionSequence = [pp]
        per.append(item)
    ds.PerFrameFunctionalGroupsSequence = per
    ds.FrameIncrementPointer = pydicom.tag.Tag("PerFrameFunctionalGroupsSequence")
