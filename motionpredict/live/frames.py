"""One received frame: pixels, patient geometry (LPS mm) and the times it was acquired and
received; decoding of a DICOM data set or an image file into it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from motionpredict.errors import InputFileError, ValidationError

__all__ = ["LiveFrame", "frame_from_dataset", "frame_from_file", "geometry_matrix"]


def geometry_matrix(spacing: tuple[float, float], position: Any = (0.0, 0.0, 0.0),
                    orientation: Any = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)) -> np.ndarray:
    """The ``(4, 4)`` matrix from pixel index ``(i = column, j = row, k = 0, 1)`` to LPS mm.

    Parameters
    ----------
    spacing
        ``(row, column)`` pixel spacing in mm (DICOM PixelSpacing order).
    position
        LPS position in mm of the centre of pixel ``(0, 0)`` (DICOM ImagePositionPatient).
    orientation
        Six direction cosines: along a row (increasing column index), then along a column
        (increasing row index) (DICOM ImageOrientationPatient).
    """
    o = np.asarray(orientation, dtype=np.float64).reshape(2, 3)
    m = np.eye(4)
    m[:3, 0] = o[0] * float(spacing[1])
    m[:3, 1] = o[1] * float(spacing[0])
    normal = np.cross(o[0], o[1])
    m[:3, 2] = normal / (np.linalg.norm(normal) or 1.0)
    m[:3, 3] = np.asarray(position, dtype=np.float64)
    return m


@dataclass
class LiveFrame:
    """A frame as received by the live service.

    Attributes
    ----------
    pixels
        ``(rows, cols)`` float32 intensities (rescale slope and intercept applied).
    spacing
        ``(row, col)`` pixel spacing in mm.
    ijk_to_lps
        ``(4, 4)`` matrix from ``(column, row, 0, 1)`` to LPS mm (:func:`geometry_matrix`).
    arrival_unix_s
        Wall-clock time (s since 1970) when the receiver had the whole frame.
    arrival_perf_s
        The same instant on ``time.perf_counter`` (for durations).
    acquisition_s
        Acquisition time in s from the header (TriggerTime, else AcquisitionDateTime), or
        ``None``.
    instance
        InstanceNumber (or file name), to match the answer to the frame sent.
    source
        ``"dicom"`` or ``"folder"``.
    decode_ms
        Time spent decoding the frame, ms.
    """

    pixels: np.ndarray
    spacing: tuple[float, float]
    ijk_to_lps: np.ndarray
    arrival_unix_s: float
    arrival_perf_s: float
    acquisition_s: float | None = None
    instance: str = ""
    source: str = ""
    decode_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _acquisition_s(ds: Any) -> float | None:
    from motionpredict.io.ordering import parse_dicom_datetime

    trig = ds.get("TriggerTime")
    if trig not in (None, ""):
        try:
            return float(trig) / 1e3
        except (TypeError, ValueError):
            pass
    return parse_dicom_datetime(ds.get("AcquisitionDateTime"), ds.get("AcquisitionDate"),
                                ds.get("AcquisitionTime"))


def frame_from_dataset(ds: Any, *, arrival_unix_s: float, arrival_perf_s: float,
                       source: str) -> LiveFrame:
    """Decode a single-frame 2D DICOM image data set.

    Raises
    ------
    ValidationError
        No pixel data, several frames, no usable pixel spacing, or non-finite values.
    """
    t0 = time.perf_counter()
    if "PixelData" not in ds:
        raise ValidationError("the data set holds no pixel data")
    if int(ds.get("NumberOfFrames", 1) or 1) != 1:
        raise ValidationError("multi-frame images are not taken by the live service; send one "
                              "frame per image")
    pixels = np.asarray(ds.pixel_array, dtype=np.float32)
    if pixels.ndim != 2:
        raise ValidationError(f"expected a 2D greyscale frame, got pixel array {pixels.shape}")
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    inter = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    if slope != 1.0 or inter != 0.0:
        pixels = pixels * np.float32(slope) + np.float32(inter)
    sp = ds.get("PixelSpacing")
    if sp is None or len(sp) != 2 or not all(float(s) > 0 for s in sp):
        raise ValidationError("the frame has no PixelSpacing; the live service does not assume one")
    spacing = (float(sp[0]), float(sp[1]))
    ipp = ds.get("ImagePositionPatient") or (0.0, 0.0, 0.0)
    iop = ds.get("ImageOrientationPatient") or (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    m = geometry_matrix(spacing, [float(v) for v in ipp], [float(v) for v in iop])
    if not np.all(np.isfinite(pixels)):
        raise ValidationError("the frame contains NaN or Inf values")
    instance = str(ds.get("InstanceNumber", "") or "")
    return LiveFrame(pixels=pixels, spacing=spacing, ijk_to_lps=m, arrival_unix_s=arrival_unix_s,
                     arrival_perf_s=arrival_perf_s, acquisition_s=_acquisition_s(ds),
                     instance=instance, source=source,
                     decode_ms=(time.perf_counter() - t0) * 1e3)


def frame_from_file(path: Path, *, arrival_unix_s: float, arrival_perf_s: float) -> LiveFrame:
    """Read one frame written into the watched folder: a DICOM file, or a 2D ``.mha`` /
    ``.nrrd`` / ``.nii(.gz)`` image (SimpleITK; LPS geometry from its header).

    Raises
    ------
    InputFileError
        The file cannot be read as a single 2D frame.
    """
    t0 = time.perf_counter()
    name = path.name.lower()
    if name.endswith((".mha", ".mhd", ".nrrd", ".nii", ".nii.gz")):
        import SimpleITK as sitk

        try:
            img = sitk.ReadImage(str(path))
        except RuntimeError as exc:
            raise InputFileError(path, f"cannot be read as an image ({exc})") from None
        arr = sitk.GetArrayFromImage(img).astype(np.float32)
        arr = arr[0] if arr.ndim == 3 and arr.shape[0] == 1 else arr
        if arr.ndim != 2:
            raise InputFileError(path, f"expected one 2D frame, got an array of shape {arr.shape}")
        d = np.asarray(img.GetDirection(), dtype=np.float64)
        dim = img.GetDimension()
        d = d.reshape(dim, dim)
        sx, sy = img.GetSpacing()[:2]
        orient = (*d[:, 0][:3], *d[:, 1][:3]) if dim == 3 else (d[0, 0], d[1, 0], 0.0,
                                                                  d[0, 1], d[1, 1], 0.0)
        origin = tuple(img.GetOrigin()) + (0.0,) * (3 - dim)
        m = geometry_matrix((sy, sx), origin, orient)
        return LiveFrame(pixels=arr, spacing=(float(sy), float(sx)), ijk_to_lps=m,
                         arrival_unix_s=arrival_unix_s, arrival_perf_s=arrival_perf_s,
                         instance=path.name, source="folder",
                         decode_ms=(time.perf_counter() - t0) * 1e3)
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, EOFError, ValueError) as exc:
        raise InputFileError(path, f"not a readable DICOM file ({exc})") from None
    try:
        frame = frame_from_dataset(ds, arrival_unix_s=arrival_unix_s,
                                   arrival_perf_s=arrival_perf_s, source="folder")
    except ValidationError as exc:
        raise InputFileError(path, str(exc)) from None
    frame.instance = frame.instance or path.name
    frame.decode_ms = (time.perf_counter() - t0) * 1e3
    return frame
