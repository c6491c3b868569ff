"""Writing image sequences (MHA, NIfTI, Slicer ``.seq.nrrd``), displacement fields and points CSV.

All writes are atomic (:func:`motionpredict.io.atomic.atomic_path`). Geometry is converted from
array-axis order to ITK x-first order; physical space is LPS (ITK's and Slicer's file convention).

* MHA: a 2D cine is a 3D image ``(W, H, T)``, a volume sequence a 4D image, time last; the frame
  times (s) are stored under the ``MotionPredictFrameTimes`` key and the time spacing is the median
  frame period.
* NIfTI: time is the 4th NIfTI dimension (a 2D cine gets one slice); ``pixdim[4]`` is the frame
  period with time units = s. NIfTI cannot store irregular times: such sequences are refused.
* ``.seq.nrrd``: Slicer volume sequence, ``kinds: list domain domain domain``, index values = times
  in s, space ``left-posterior-superior``.
* Displacement fields: an MHA vector image (components = x, y[, z] displacement in mm, LPS), the
  time axis last when there are several fields. With one field it is a plain ITK displacement field
  that Slicer loads as a transform (``I_ref(x) ~ I_t(x + u(x))`` = ITK's fixed-to-moving mapping).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from motionpredict.errors import ConfigurationError, InputFileError, ValidationError
from motionpredict.io.atomic import atomic_path, full_suffix
from motionpredict.io.images import TIMES_KEY
from motionpredict.sequences import DisplacementFieldSeries, ImageSequence, PointTrajectories

__all__ = ["read_fields", "write_fields", "write_image", "write_points_csv"]


def _itk_geometry(
    spacing: tuple[float, ...], origin: tuple[float, ...] | None, direction: np.ndarray | None
) -> tuple[list[float], list[float], np.ndarray]:
    """Array-order spacing / origin / direction -> ITK x-first order."""
    nd = len(spacing)
    origin = tuple(origin) if origin is not None else (0.0,) * nd
    direction = np.eye(nd) if direction is None else direction
    d = np.asarray(direction, dtype=float)
    return list(spacing)[::-1], list(origin)[::-1], d[::-1, ::-1]


def _period(times: np.ndarray) -> float:
    return float(np.median(np.diff(times))) if times.size > 1 else 1.0


def times_are_regular(times: np.ndarray) -> bool:
    """Whether frame times (s) are equally spaced, as NIfTI's single time step requires.

    Parameters
    ----------
    times
        ``(T,)`` frame times in s.
    """
    times = np.asarray(times, dtype=float)
    if times.size < 2:
        return True
    period = _period(times)
    rel = times - times[0]
    return bool(np.max(np.abs(rel - np.arange(times.size) * period)) <= 1e-6 * max(period, 1.0))


def _time_last_image(arr: np.ndarray, *, vector: bool = False) -> Any:
    """SimpleITK image whose last (x-first) axis is the first numpy axis (time)."""
    import SimpleITK as sitk

    spatial = arr.ndim - (2 if vector else 1)
    if spatial <= 2:
        return sitk.GetImageFromArray(arr, isVector=vector)
    return sitk.JoinSeries([sitk.GetImageFromArray(a, isVector=vector) for a in arr])


def write_image(seq: ImageSequence, path: str | Path) -> Path:
    """Write an image sequence; the format follows the extension.

    Parameters
    ----------
    seq
        Frames ``(T, H, W)`` or ``(T, D, H, W)`` with spacing (mm) and times (s).
    path
        ``.mha``, ``.nii``, ``.nii.gz`` or ``.seq.nrrd``.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ConfigurationError
        Unsupported extension.
    ValidationError
        Irregular frame times for NIfTI.
    """
    path = Path(path)
    suffix = full_suffix(path)
    if suffix == ".seq.nrrd":
        return _write_seq_nrrd(seq, path)
    if suffix not in (".mha", ".nii", ".nii.gz"):
        raise ConfigurationError(
            f"{path}: unsupported image format {suffix!r} (.mha, .nii, .nii.gz, .seq.nrrd)"
        )
    import SimpleITK as sitk

    period = _period(seq.times)
    if suffix != ".mha" and not times_are_regular(seq.times):
        raise ValidationError(
            f"{path}: NIfTI stores only a fixed frame period; these times are irregular "
            "(write .mha or .seq.nrrd to keep them)"
        )
    sp, org, d = _itk_geometry(seq.spacing, seq.origin, seq.direction)
    frames = seq.frames
    nd = seq.ndim
    if suffix == ".mha":
        img = _time_last_image(frames)  # ITK (W, H, T) or (W, H, D, T)
        dim = nd + 1
    else:  # NIfTI: time must be the 4th dimension
        vol = frames[:, None] if nd == 2 else frames
        img = _time_last_image(vol)
        dim = 4
        if nd == 2:
            sp, org = [*sp, 1.0], [*org, 0.0]
            d3 = np.eye(3)
            d3[:2, :2] = d
            d = d3
    full_dir = np.eye(dim)
    full_dir[: d.shape[0], : d.shape[0]] = d
    img.SetSpacing([*sp, period])
    img.SetOrigin([*org, float(seq.times[0]) if suffix == ".mha" else 0.0])
    img.SetDirection(full_dir.ravel().tolist())
    if suffix == ".mha":
        img.SetMetaData(TIMES_KEY, " ".join(f"{t:.9g}" for t in seq.times))
    with atomic_path(path) as tmp:
        sitk.WriteImage(img, str(tmp), useCompression=suffix == ".mha")
    return path


def _write_seq_nrrd(seq: ImageSequence, path: Path) -> Path:
    import nrrd

    frames = seq.frames if seq.ndim == 3 else seq.frames[:, None]
    spacing = seq.spacing if seq.ndim == 3 else (1.0, *seq.spacing)
    org = (0.0,) * seq.ndim if seq.origin is None else seq.origin  # None: zeros, as in the model
    origin = org if seq.ndim == 3 else (0.0, *org)
    direction = np.eye(3)
    if seq.ndim == 3:
        direction = np.asarray(seq.direction)
    else:
        direction[1:, 1:] = seq.direction
    sp_xyz, org_xyz, d_xyz = _itk_geometry(spacing, origin, direction)
    dirs = (d_xyz * np.asarray(sp_xyz)[None, :]).T  # row a = direction of NRRD axis a (I, J, K)
    header = {
        "type": "float",
        "dimension": 4,
        "space": "left-posterior-superior",
        "kinds": ["list", "domain", "domain", "domain"],
        "labels": ["time", "", "", ""],
        "space directions": np.vstack([np.full(3, np.nan), dirs]),
        "space origin": [float(o) for o in org_xyz],
        "encoding": "gzip",
        "axis 0 index type": "numeric",
        "axis 0 index values": " ".join(f"{t:.9g}" for t in seq.times),
        "axis 0 quantity": "time",
        "axis 0 unit": "s",
        "DataNodeClassName": "vtkMRMLScalarVolumeNode",
    }
    with atomic_path(path) as tmp:
        # C order: numpy axis n is NRRD axis 3 - n, so NRRD (list, I, J, K) is numpy (K, J, I, T)
        data = np.ascontiguousarray(np.moveaxis(frames, 0, -1), dtype=np.float32)
        nrrd.write(str(tmp), data, header, index_order="C")
    return path


def write_fields(fields: DisplacementFieldSeries, path: str | Path) -> Path:
    """Write displacement fields as an MHA vector image in LPS (x, y[, z] components, mm).

    Parameters
    ----------
    fields
        ``(T, *spatial, ndim)`` displacements in mm, components in array-axis order.
    path
        ``.mha`` file. With ``T == 1`` the file is a plain ITK displacement field (a Slicer
        transform); with ``T > 1`` time is the last image axis and the frame times are stored
        under ``MotionPredictFrameTimes``.
    """
    import SimpleITK as sitk

    path = Path(path)
    if full_suffix(path) not in (".mha", ".nrrd"):
        raise ConfigurationError(f"{path}: displacement fields are written as .mha (or .nrrd)")
    f = np.asarray(fields.fields, dtype=np.float64)
    nd = fields.ndim
    d_arr = np.asarray(fields.direction, dtype=float)
    # physical vector in array-reversed order = D_arr @ u_arr; LPS (x, y, z) = reversed
    phys = np.einsum("ij,...j->...i", d_arr, f)[..., ::-1]
    sp, org, d = _itk_geometry(fields.spacing, fields.origin, fields.direction)
    if fields.n_frames == 1:
        img = sitk.GetImageFromArray(phys[0].astype(np.float64), isVector=True)
        img.SetSpacing(sp)
        img.SetOrigin(org)
        img.SetDirection(d.ravel().tolist())
    else:
        img = _time_last_image(phys.astype(np.float32), vector=True)
        full = np.eye(nd + 1)
        full[:nd, :nd] = d
        img.SetSpacing([*sp, _period(fields.times)])
        img.SetOrigin([*org, float(fields.times[0])])
        img.SetDirection(full.ravel().tolist())
    img.SetMetaData(TIMES_KEY, " ".join(f"{t:.9g}" for t in fields.times))
    img.SetMetaData("MotionPredictReferenceIndex", str(fields.reference_index))
    with atomic_path(path) as tmp:
        sitk.WriteImage(img, str(tmp), useCompression=True)
    return path


def read_fields(path: str | Path) -> DisplacementFieldSeries:
    """Read fields written by :func:`write_fields` (components back to array-axis order, mm)."""
    import SimpleITK as sitk

    path = Path(path)
    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputFileError(path, "cannot read the displacement field image") from exc
    ncomp = img.GetNumberOfComponentsPerPixel()
    dim = img.GetDimension()
    arr = sitk.GetArrayFromImage(img).astype(np.float64)
    keys = set(img.GetMetaDataKeys())
    times = (
        np.asarray([float(v) for v in img.GetMetaData(TIMES_KEY).split()])
        if TIMES_KEY in keys
        else None
    )
    if dim == ncomp:
        arr = arr[None]
    elif dim != ncomp + 1:
        raise InputFileError(path, f"{ncomp}-component vectors on a {dim}D grid are not fields")
    nd = ncomp
    sp = np.asarray(img.GetSpacing())[:nd][::-1]
    org = np.asarray(img.GetOrigin())[:nd][::-1]
    d = np.asarray(img.GetDirection()).reshape(dim, dim)[:nd, :nd][::-1, ::-1]
    if times is None:
        times = np.arange(arr.shape[0], dtype=float)
    u_rev = arr[..., ::-1]
    u_arr = np.einsum("ji,...j->...i", d, u_rev)  # D^T (orthonormal inverse)
    ref = (
        int(img.GetMetaData("MotionPredictReferenceIndex"))
        if "MotionPredictReferenceIndex" in keys
        else 0
    )
    return DisplacementFieldSeries(
        fields=u_arr.astype(np.float32),
        spacing=tuple(sp),
        times=times,
        reference_index=ref,
        origin=tuple(org),
        direction=d,
    )


def write_points_csv(traj: PointTrajectories, path: str | Path) -> Path:
    """Write trajectories as ``t,<name>_x,<name>_y,<name>_z,...`` CSV (s, mm), atomically.

    The file reads back with :func:`motionpredict.io.load`.
    """
    path = Path(path)
    assert traj.names is not None  # PointTrajectories.__post_init__ fills the default names
    header = ["t"] + [f"{n}_{a}" for n in traj.names for a in "xyz"]
    with atomic_path(path) as tmp:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            fh.write("# motionpredict points: t in s, positions in mm\n")
            w = csv.writer(fh)
            w.writerow(header)
            flat = traj.positions.reshape(traj.n_samples, -1)
            for t, row in zip(traj.times, flat, strict=True):
                w.writerow([repr(float(t))] + [repr(float(v)) for v in row])
    return path
