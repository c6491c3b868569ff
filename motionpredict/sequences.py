"""The data model: image sequences, point trajectories and displacement-field series.

Conventions used everywhere in motionpredict
--------------------------------------------
* Arrays are indexed in **array-axis order** (NumPy order): a 2D frame is ``(rows, cols)``, a 3D
  volume ``(slices, rows, cols)``. Spacing, origin and vector components follow the same order:
  ``spacing[0]`` is the distance in mm between two rows of a 2D frame. (SimpleITK and DICOM use the
  reverse, x-first order; the I/O layer converts at the boundary.)
* Lengths are in millimetres, times in seconds.
* Displacement fields follow ``I_ref(x) ~ I_t(x + u_t(x))``: the intensity at position ``x`` of the
  reference frame is found at ``x + u_t(x)`` in frame ``t``. ``u_t`` is stored in mm, components in
  array-axis order, shape ``(T, *spatial, ndim)``.
* Point positions are ``(T, N, 3)`` in mm (x, y, z of the acquisition's patient or device frame, as
  the source states; for external markers z is superior-inferior in the Krilavicius data).

Constructors validate their inputs and raise :class:`~motionpredict.errors.ValidationError` with a
message that says what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from motionpredict.errors import ValidationError

#: Where a physical quantity came from; reported by ``motionpredict info``.
Source = Literal[
    "header", "acquisition-times", "card", "sidecar", "option", "phantom", "convention"
]


@dataclass
class Provenance:
    """Where a sequence came from and how it was interpreted.

    Attributes
    ----------
    source
        Path, URL-free description or generator name the data came from.
    ordering
        The temporal key used to order frames (e.g. ``"TemporalPositionIdentifier"``,
        ``"file-name-number"``); ``None`` when not applicable.
    spacing_source, frame_period_source
        Where the pixel spacing and the frame period were taken from.
    raw_range
        ``(min, max)`` of the stored pixel values' data type before rescaling, e.g. ``(0, 255)``
        for 8-bit data; used as the SSIM data range.
    warnings
        Things a user should know (skipped files, irregular timing...).
    extra
        Free-form metadata (DICOM UIDs, phantom parameters, dataset card name...).
    """

    source: str = ""
    ordering: str | None = None
    spacing_source: Source | None = None
    frame_period_source: Source | None = None
    raw_range: tuple[float, float] | None = None
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def _check_times(times: np.ndarray, n: int, what: str) -> np.ndarray:
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or times.shape[0] != n:
        raise ValidationError(f"{what}: expected {n} frame times, got shape {times.shape}")
    if not np.all(np.isfinite(times)):
        raise ValidationError(f"{what}: frame times contain NaN or Inf")
    if n > 1:
        steps = np.diff(times)
        if np.any(steps <= 0):
            bad = int(np.argmax(steps <= 0))
            raise ValidationError(
                f"{what}: frame times must increase strictly; time {bad + 1} "
                f"({times[bad + 1]:.6g} s)"
                f" does not follow time {bad} ({times[bad]:.6g} s)"
            )
    return times


def _check_spacing(spacing: Any, ndim: int, what: str) -> tuple[float, ...]:
    sp = tuple(float(s) for s in np.atleast_1d(np.asarray(spacing, dtype=np.float64)))
    if len(sp) != ndim:
        raise ValidationError(f"{what}: spacing needs {ndim} values (array-axis order), got {sp}")
    if not all(np.isfinite(s) and s > 0 for s in sp):
        raise ValidationError(f"{what}: spacing must be positive and finite, got {sp} mm")
    return sp


@dataclass(eq=False)
class ImageSequence:
    """A time series of 2D frames (cine) or 3D volumes (respiratory phases).

    Parameters
    ----------
    frames
        ``(T, H, W)`` or ``(T, D, H, W)`` intensities; stored as float32 (rescale slope and
        intercept already applied).
    spacing
        Voxel size in mm, array-axis order (``(row, col)`` or ``(slice, row, col)``).
    times
        ``(T,)`` acquisition times in s, strictly increasing.
    origin
        Position in mm of the first voxel's centre, array-axis order; zeros by default.
    direction
        ``(ndim, ndim)`` direction cosines; column ``i`` is the patient-space direction of array
        axis ``i`` (in the same reversed order as ``origin``). Identity by default.
    provenance
        Where the data came from and how it was interpreted.
    """

    frames: np.ndarray
    spacing: tuple[float, ...]
    times: np.ndarray
    origin: tuple[float, ...] | None = None
    direction: np.ndarray | None = None
    provenance: Provenance = field(default_factory=Provenance)

    def __post_init__(self) -> None:
        frames = np.asarray(self.frames)
        if frames.ndim not in (3, 4):
            raise ValidationError(
                f"frames must be (T, H, W) or (T, D, H, W), got an array of shape {frames.shape}"
            )
        if frames.shape[0] < 1 or any(s < 1 for s in frames.shape):
            raise ValidationError(f"frames must not be empty, got shape {frames.shape}")
        frames = frames.astype(np.float32, copy=False)
        if not np.all(np.isfinite(frames)):
            bad = int(np.argmax(~np.isfinite(frames).reshape(frames.shape[0], -1).all(axis=1)))
            raise ValidationError(f"frame {bad} contains NaN or Inf values")
        self.frames = frames
        nd = frames.ndim - 1
        self.spacing = _check_spacing(self.spacing, nd, "ImageSequence")
        self.times = _check_times(self.times, frames.shape[0], "ImageSequence")
        origin = np.zeros(nd) if self.origin is None else np.asarray(self.origin, dtype=np.float64)
        if origin.shape != (nd,) or not np.all(np.isfinite(origin)):
            raise ValidationError(f"origin must be {nd} finite values in mm, got {self.origin}")
        self.origin = tuple(float(o) for o in origin)
        direction = np.eye(nd) if self.direction is None else np.asarray(self.direction, float)
        if direction.shape != (nd, nd) or not np.all(np.isfinite(direction)):
            raise ValidationError(f"direction must be a finite {nd}x{nd} matrix")
        if abs(abs(np.linalg.det(direction)) - 1.0) > 1e-3:
            raise ValidationError("direction must be orthonormal (|det| = 1)")
        self.direction = direction

    # ------------------------------------------------------------------ properties
    @property
    def n_frames(self) -> int:
        """Number of frames ``T``."""
        return int(self.frames.shape[0])

    @property
    def ndim(self) -> int:
        """Spatial dimension: 2 for cine, 3 for volumes."""
        return int(self.frames.ndim - 1)

    @property
    def shape(self) -> tuple[int, ...]:
        """Spatial shape of one frame, array-axis order."""
        return tuple(int(s) for s in self.frames.shape[1:])

    @property
    def frame_period(self) -> float:
        """Median time between frames in s (``nan`` for a single frame)."""
        if self.n_frames < 2:
            return float("nan")
        return float(np.median(np.diff(self.times)))

    def subset(self, index: slice | np.ndarray | list[int]) -> ImageSequence:
        """Return a sequence holding the selected frames (same geometry and provenance)."""
        return replace(self, frames=self.frames[index], times=self.times[index])


@dataclass(eq=False)
class PointTrajectories:
    """Positions of N points (external markers, landmarks, tumour centroid) over time.

    Parameters
    ----------
    positions
        ``(T, N, 3)`` positions in mm.
    times
        ``(T,)`` sample times in s, strictly increasing.
    names
        ``N`` point names (e.g. marker labels); ``"p0", "p1"...`` by default.
    provenance
        Where the data came from.
    """

    positions: np.ndarray
    times: np.ndarray
    names: tuple[str, ...] | None = None
    provenance: Provenance = field(default_factory=Provenance)

    def __post_init__(self) -> None:
        pos = np.asarray(self.positions, dtype=np.float64)
        if pos.ndim != 3 or pos.shape[2] != 3 or pos.shape[0] < 1 or pos.shape[1] < 1:
            raise ValidationError(f"positions must be (T, N, 3) in mm, got shape {pos.shape}")
        if not np.all(np.isfinite(pos)):
            t = int(np.argmax(~np.isfinite(pos).reshape(pos.shape[0], -1).all(axis=1)))
            raise ValidationError(f"positions contain NaN or Inf (first at sample {t})")
        self.positions = pos
        self.times = _check_times(self.times, pos.shape[0], "PointTrajectories")
        names = tuple(f"p{i}" for i in range(pos.shape[1])) if self.names is None else self.names
        names = tuple(str(n) for n in names)
        if len(names) != pos.shape[1]:
            raise ValidationError(f"{pos.shape[1]} points but {len(names)} names: {names}")
        self.names = names

    @property
    def n_samples(self) -> int:
        """Number of samples ``T``."""
        return int(self.positions.shape[0])

    @property
    def n_points(self) -> int:
        """Number of points ``N``."""
        return int(self.positions.shape[1])

    @property
    def sample_period(self) -> float:
        """Median time between samples in s."""
        if self.n_samples < 2:
            return float("nan")
        return float(np.median(np.diff(self.times)))

    def as_series(self) -> np.ndarray:
        """Flatten to the ``(T, 3 N)`` multivariate series a forecaster sees.

        Column order is ``[x_0, y_0, z_0, x_1, ...]`` (point-major).
        """
        return self.positions.reshape(self.n_samples, -1)


@dataclass(eq=False)
class DisplacementFieldSeries:
    """Displacement fields of every frame relative to a reference frame.

    Convention: ``I_ref(x) ~ I_t(x + u_t(x))``.

    Parameters
    ----------
    fields
        ``(T, *spatial, ndim)`` displacements in mm, components in array-axis order.
    spacing
        Voxel size in mm, array-axis order (the grid on which the fields are sampled).
    times
        ``(T,)`` times in s of the frames the fields belong to.
    reference_index
        0-based index of the reference frame.
    origin, direction
        Geometry of the grid, as in :class:`ImageSequence`.
    provenance
        How the fields were obtained (method, parameters).
    """

    fields: np.ndarray
    spacing: tuple[float, ...]
    times: np.ndarray
    reference_index: int = 0
    origin: tuple[float, ...] | None = None
    direction: np.ndarray | None = None
    provenance: Provenance = field(default_factory=Provenance)

    def __post_init__(self) -> None:
        f = np.asarray(self.fields)
        if f.ndim not in (4, 5) or f.shape[-1] != f.ndim - 2:
            raise ValidationError(
                "fields must be (T, H, W, 2) or (T, D, H, W, 3) in mm, got shape " f"{f.shape}"
            )
        f = f.astype(np.float32, copy=False)
        if not np.all(np.isfinite(f)):
            raise ValidationError("displacement fields contain NaN or Inf")
        self.fields = f
        nd = f.ndim - 2
        self.spacing = _check_spacing(self.spacing, nd, "DisplacementFieldSeries")
        self.times = _check_times(self.times, f.shape[0], "DisplacementFieldSeries")
        if not 0 <= int(self.reference_index) < f.shape[0]:
            raise ValidationError(
                f"reference_index {self.reference_index} outside 0..{f.shape[0] - 1}"
            )
        self.reference_index = int(self.reference_index)
        origin = np.zeros(nd) if self.origin is None else self.origin
        self.origin = tuple(float(o) for o in origin)
        self.direction = np.eye(nd) if self.direction is None else np.asarray(self.direction, float)

    @property
    def n_frames(self) -> int:
        """Number of fields ``T``."""
        return int(self.fields.shape[0])

    @property
    def ndim(self) -> int:
        """Spatial dimension (2 or 3)."""
        return int(self.fields.ndim - 2)

    @property
    def shape(self) -> tuple[int, ...]:
        """Spatial grid shape, array-axis order."""
        return tuple(int(s) for s in self.fields.shape[1:-1])

    def in_pixels(self) -> np.ndarray:
        """Return the fields in voxel units (each component divided by its axis spacing)."""
        return self.fields / np.asarray(self.spacing, dtype=np.float32)


def field_array(
    fields: DisplacementFieldSeries | np.ndarray, *, dtype: type = np.float64, what: str = "fields"
) -> np.ndarray:
    """Return the ``(n, *spatial, ndim)`` array (mm) of a field series or array, validated.

    Parameters
    ----------
    fields
        A :class:`DisplacementFieldSeries` or an array ``(n, H, W, 2)`` / ``(n, D, H, W, 3)`` in mm.
    dtype
        Floating type of the returned array (no copy when it already has it).
    what
        Name used in error messages.

    Raises
    ------
    ValidationError
        Wrong shape, or NaN/Inf values.
    """
    arr = fields.fields if isinstance(fields, DisplacementFieldSeries) else np.asarray(fields)
    if arr.ndim not in (4, 5) or arr.shape[-1] != arr.ndim - 2:
        raise ValidationError(
            f"{what} must be (n, H, W, 2) or (n, D, H, W, 3) in mm, got shape {arr.shape}"
        )
    arr = arr.astype(dtype, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValidationError(f"{what} contain NaN or Inf")
    return arr
