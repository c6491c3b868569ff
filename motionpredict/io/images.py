"""Reading MHA / NRRD / NIfTI image files with time as the last axis, and Slicer ``.seq.nrrd``.

Conventions
-----------
* A 3D file (``(W, H, T)`` in ITK x-first order, e.g. TrackRAD2025) is a 2D cine: the third axis is
  time. A 4D file is a 3D volume sequence; a 4D file with one slice is read as a 2D cine.
* The third (fourth) ITK spacing is *not* trusted as a frame period unless the file says it is a
  time: a NIfTI with time units in ``xyzt_units``, or the ``MotionPredictFrameTimes`` key written by
  :func:`motionpredict.io.write_image`. Otherwise the period comes from ``frame-rate.json`` /
  ``sequence.json`` / the card / ``--frame-period``.
* Slicer ``.seq.nrrd``: 3 spatial axes plus a ``list`` axis (first or last) whose
  ``axis <A> index values`` are the frame times in s.
* Spacing, origin and direction are converted from ITK (x-first, LPS) to array-axis order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motionpredict.errors import InputFileError
from motionpredict.io.atomic import full_suffix
from motionpredict.io.sidecar import MetadataHints
from motionpredict.sequences import ImageSequence, Provenance

__all__ = ["IMAGE_SUFFIXES", "TIMES_KEY", "read_image_file", "read_seq_nrrd"]

IMAGE_SUFFIXES = (".mha", ".mhd", ".nrrd", ".nhdr", ".nii", ".nii.gz", ".seq.nrrd")

#: Metadata key carrying the frame times (s, space-separated) in files written by motionpredict.
TIMES_KEY = "MotionPredictFrameTimes"

_NIFTI_TIME_UNITS = {8: 1.0, 16: 1e-3, 24: 1e-6}


def _raw_range_of(dtype: np.dtype) -> tuple[float, float] | None:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return float(info.min), float(info.max)
    return None


def _to_array_order(direction: np.ndarray) -> np.ndarray:
    return direction[::-1, ::-1].copy()


def nifti_nonfinite_frames(path: Path) -> list[int]:
    """Frames (last NIfTI axis) holding NaN or Inf in a float NIfTI-1 file.

    ITK's NIfTI reader silently replaces non-finite voxels by 0, so the raw data are checked here.
    Returns an empty list for integer data or when the header is not NIfTI-1.
    """
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise InputFileError(path, f"cannot read the NIfTI file ({exc})") from exc
    if len(raw) < 352:
        return []
    for end in ("<", ">"):
        if int(np.frombuffer(raw[:4], f"{end}i4")[0]) == 348:
            break
    else:
        return []
    dims = np.frombuffer(raw[40:56], f"{end}i2")
    datatype = int(np.frombuffer(raw[70:72], f"{end}i2")[0])
    offset = int(np.frombuffer(raw[108:112], f"{end}f4")[0])
    dtype = {16: f"{end}f4", 64: f"{end}f8"}.get(datatype)
    ndim = int(dims[0])
    if dtype is None or not 1 <= ndim <= 7:
        return []
    shape = [int(d) for d in dims[1 : ndim + 1]]
    count = int(np.prod(shape))
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=max(offset, 352))
    per_frame = data.reshape(shape[-1], -1)
    return np.flatnonzero(~np.isfinite(per_frame).all(axis=1)).tolist()


_MET_BYTES = {"MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4,
              "MET_UINT": 4, "MET_LONG": 4, "MET_ULONG": 4, "MET_LONG_LONG": 8,
              "MET_ULONG_LONG": 8, "MET_FLOAT": 4, "MET_DOUBLE": 8}


def _check_declared_size(path: Path) -> None:
    """Compare the size an image header declares with the file and the memory, before reading.

    Raises
    ------
    InputFileError
        An uncompressed MetaImage whose data are shorter than its ``DimSize`` says (truncated),
        an unreadable header, or decoded data too large for the memory.
    """
    import SimpleITK as sitk

    from motionpredict.io.limits import check_allocation, format_bytes

    if full_suffix(path) in (".mha", ".mhd"):
        try:
            with path.open("rb") as fh:
                head = fh.read(65536)
        except OSError as exc:
            raise InputFileError(path, f"cannot read the file ({exc.strerror})") from None
        fields: dict[str, str] = {}
        offset = 0
        for raw in head.split(b"\n"):
            offset += len(raw) + 1
            key, sep, value = raw.decode("latin-1").partition("=")
            if not sep:
                break
            fields[key.strip()] = value.strip()
            if key.strip() == "ElementDataFile":
                break
        data_file = fields.get("ElementDataFile")
        compressed = fields.get("CompressedData", "False").lower() == "true"
        try:
            dims = [int(v) for v in fields.get("DimSize", "").split()]
            item = _MET_BYTES[fields.get("ElementType", "")]
            channels = int(fields.get("ElementNumberOfChannels", "1"))
        except (KeyError, ValueError):
            dims, item, channels = [], 0, 1
        if data_file is not None and dims and item and not compressed:
            need = int(np.prod(dims, dtype=np.float64)) * item * channels
            if data_file == "LOCAL":
                have = path.stat().st_size - offset
            else:
                target = path.parent / data_file
                have = target.stat().st_size if target.is_file() else 0
            if have < need:
                raise InputFileError(
                    path,
                    f"truncated image data: the header declares {' x '.join(map(str, dims))} "
                    f"values of {fields.get('ElementType')} ({format_bytes(need)}), the file "
                    f"holds {format_bytes(max(have, 0))}",
                )
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
        why = lines[-1] if lines else str(exc)
        if "Unable to determine ImageIO reader" in why:
            why = f"not a readable {full_suffix(path) or 'image'} file: truncated or corrupt?"
        raise InputFileError(path, f"cannot read the image header ({why})") from None
    size = reader.GetSize()
    n = float(np.prod(size, dtype=np.float64)) * reader.GetNumberOfComponents()
    check_allocation(path, n * 8.0, f"{' x '.join(map(str, size))} values")


def read_image_file(path: Path, hints: MetadataHints) -> ImageSequence:
    """Read an MHA / NRRD / NIfTI file whose last axis is time.

    Raises
    ------
    InputFileError
        Unreadable file, wrong dimension, vector pixels, NaN/Inf values.
    MissingMetadataError
        Frame period unknown.
    """
    if full_suffix(path) == ".seq.nrrd":
        return read_seq_nrrd(path, hints)
    import SimpleITK as sitk

    _check_declared_size(path)
    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        raise InputFileError(path, f"cannot read the image ({first})") from exc
    dim = img.GetDimension()
    if full_suffix(path) in (".nii", ".nii.gz"):
        bad = nifti_nonfinite_frames(path)
        if bad:
            raise InputFileError(
                path,
                f"the image contains NaN or Inf values (frames {bad[:5]}"
                f"{'...' if len(bad) > 5 else ''})",
            )
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise InputFileError(path, "vector images are displacement fields, not image sequences")
    if dim not in (3, 4):
        raise InputFileError(path, f"expected a 3D (2D + time) or 4D (3D + time) image, got {dim}D")
    arr = sitk.GetArrayFromImage(img)  # (T, [D,] H, W)
    raw_range = _raw_range_of(arr.dtype)
    if not np.all(np.isfinite(arr)):
        nonfinite = np.argwhere(~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)).ravel()
        raise InputFileError(
            path, f"the image contains NaN or Inf values (frames {nonfinite[:5].tolist()})"
        )
    spacing = np.asarray(img.GetSpacing())
    origin = np.asarray(img.GetOrigin())
    direction = np.asarray(img.GetDirection()).reshape(dim, dim)
    nd = dim - 1
    keys = set(img.GetMetaDataKeys())
    header_times = None
    t_source = None
    if TIMES_KEY in keys:
        try:
            header_times = np.asarray([float(v) for v in img.GetMetaData(TIMES_KEY).split()])
        except ValueError:
            raise InputFileError(path, f"malformed {TIMES_KEY} entry") from None
        if header_times.size != arr.shape[0]:
            raise InputFileError(
                path, f"{TIMES_KEY} has {header_times.size} values for {arr.shape[0]} frames"
            )
        t_source = "header"
    elif "xyzt_units" in keys and dim == 4:
        units = int(img.GetMetaData("xyzt_units") or 0) & 0x38
        if units in _NIFTI_TIME_UNITS and spacing[3] > 0:
            dt = spacing[3] * _NIFTI_TIME_UNITS[units]
            header_times = np.arange(arr.shape[0]) * dt
            t_source = "header"
    if dim == 4 and arr.shape[1] == 1:  # single slice: 2D cine
        arr = arr[:, 0]
        nd = 2
    sp_xyz = spacing[:nd]
    frames = arr.astype(np.float32)
    sp_arr = tuple(float(s) for s in sp_xyz[::-1])
    org_arr = tuple(float(o) for o in origin[:nd][::-1])
    dir_arr = _to_array_order(direction[:nd, :nd])
    if abs(abs(np.linalg.det(dir_arr)) - 1) > 1e-3:
        dir_arr = np.eye(nd)
    problem = None
    if header_times is not None and header_times.size > 1 and np.any(np.diff(header_times) <= 0):
        problem = f"frame times in {path.name} are duplicated or not increasing"
        header_times = None
    spacing_final, sp_src = hints.resolve_spacing(sp_arr, nd, path)
    times, src = hints.resolve_times(header_times, frames.shape[0], path, problem)
    if src == "acquisition-times":
        src = t_source  # type: ignore[assignment]
    prov = Provenance(
        source=str(path),
        ordering="file-axis",
        spacing_source=sp_src,
        frame_period_source=src,
        raw_range=raw_range,
        warnings=list(hints.warnings),
        extra={"format": full_suffix(path).lstrip(".")},
    )
    return ImageSequence(
        frames=frames,
        spacing=spacing_final,
        times=times,
        origin=org_arr,
        direction=dir_arr,
        provenance=prov,
    )


def read_seq_nrrd(path: Path, hints: MetadataHints) -> ImageSequence:
    """Read a 3D Slicer volume sequence (``.seq.nrrd``) into an :class:`ImageSequence`."""
    import nrrd

    try:
        data, header = nrrd.read(str(path), index_order="C")
    except Exception as exc:  # pynrrd raises several types for damaged files
        raise InputFileError(path, f"cannot read the NRRD file ({exc})") from exc
    kinds = [str(k).lower() for k in header.get("kinds", [])]
    if len(kinds) != 4 or kinds.count("list") != 1:
        raise InputFileError(path, f"not a Slicer sequence: kinds {kinds} (need 3 domain + 1 list)")
    # pynrrd's C order reverses the axes: NRRD axis a is numpy axis 3 - a
    list_axis = kinds.index("list")
    arr = np.moveaxis(np.asarray(data), 3 - list_axis, 0)  # (T, K, J, I)
    if not np.all(np.isfinite(arr)):
        raise InputFileError(path, "the sequence contains NaN or Inf values")
    raw_range = _raw_range_of(arr.dtype)
    sd = np.asarray(header.get("space directions"), dtype=float)
    if sd.shape != (4, 3):
        raise InputFileError(
            path, f"'space directions' must be 4 entries of 3 values, got {sd.shape}"
        )
    dirs = sd[~np.all(np.isnan(sd), axis=1)]
    if dirs.shape != (3, 3):
        raise InputFileError(
            path, "'space directions' needs 3 spatial axes and 'none' for the list"
        )
    space = str(header.get("space", "left-posterior-superior")).lower()
    flip = np.ones(3)
    if space in ("right-anterior-superior", "ras"):
        flip = np.array([-1.0, -1.0, 1.0])
    dirs = dirs * flip
    origin = np.asarray(header.get("space origin", np.zeros(3)), dtype=float) * flip
    spacing_xyz = np.linalg.norm(dirs, axis=1)
    direction_xyz = (dirs / spacing_xyz[:, None]).T  # columns = I, J, K axis directions
    values = header.get(f"axis {list_axis} index values")
    header_times = None
    if values is not None:
        try:
            header_times = np.asarray([float(v) for v in str(values).split()])
        except ValueError:
            header_times = None
        if header_times is not None and header_times.size != arr.shape[0]:
            raise InputFileError(path, f"{header_times.size} index values for {arr.shape[0]} items")
    problem = None
    if header_times is not None and header_times.size > 1 and np.any(np.diff(header_times) <= 0):
        problem = f"index values in {path.name} are duplicated or not increasing"
        header_times = None
    nd = 3
    org_arr = tuple(origin[::-1])
    dir_arr = _to_array_order(direction_xyz)
    sp_arr = tuple(float(s) for s in spacing_xyz[::-1])
    if arr.shape[1] == 1:  # single-slice volume: 2D cine
        arr = arr[:, 0]
        nd = 2
        sp_arr = sp_arr[1:]
        org_arr = org_arr[1:]
        dir_arr = dir_arr[1:, 1:]
        if abs(abs(np.linalg.det(dir_arr)) - 1) > 1e-3:
            dir_arr = np.eye(2)
    spacing_final, sp_src = hints.resolve_spacing(sp_arr, nd, path)
    times, src = hints.resolve_times(header_times, arr.shape[0], path, problem)
    if src == "acquisition-times":
        src = "header"
    prov = Provenance(
        source=str(path),
        ordering=f"axis {list_axis} index values",
        spacing_source=sp_src,
        frame_period_source=src,
        raw_range=raw_range,
        warnings=list(hints.warnings),
        extra={"format": "seq.nrrd"},
    )
    return ImageSequence(
        frames=arr.astype(np.float32),
        spacing=spacing_final,
        times=times,
        origin=tuple(float(o) for o in org_arr),
        direction=dir_arr,
        provenance=prov,
    )
