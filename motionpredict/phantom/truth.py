"""Shared steps of the image phantoms (cine and CT): grid records, checks and ground-truth records.

These helpers draw nothing at random; they only normalise, check and package what
:mod:`motionpredict.phantom.cine` and :mod:`motionpredict.phantom.ct4d` compute, so both phantoms
stay bit-for-bit reproducible.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from motionpredict.errors import ConfigurationError
from motionpredict.phantom.breathing import BreathingParams, BreathingSignal
from motionpredict.phantom.fields import Basis, check_grid, max_gradient
from motionpredict.sequences import (
    DisplacementFieldSeries,
    ImageSequence,
    PointTrajectories,
    Provenance,
)


def grid_record(
    shape: Iterable[int], spacing_mm: Iterable[float], ndim: int
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """``(shape, spacing_mm)`` as tuples of int and float (mm), checked to have ``ndim`` axes."""
    shape_t = tuple(int(n) for n in shape)
    spacing_t = tuple(float(s) for s in spacing_mm)
    check_grid(shape_t, spacing_t, ndim)
    return shape_t, spacing_t


def largest_excursion(breathing: BreathingParams, times: np.ndarray) -> float:
    """Largest ``|e(t) - e(times[0])|`` over ``times`` (s) of the diaphragm excursion, mm."""
    exc = breathing.excursion_mm(times)
    return float(np.max(np.abs(exc - exc[0])))


def texture_record(texture: np.ndarray) -> tuple[tuple[float, ...], ...]:
    """Rows of drawn texture modes as nested tuples of float (JSON-able record field)."""
    return tuple(tuple(float(v) for v in row) for row in texture)


def check_invertible(
    label: str,
    basis: Basis,
    weights: np.ndarray,
    points: np.ndarray,
    fov: np.ndarray,
) -> None:
    """Raise unless the motion at its largest first weight stays invertible on ``points``.

    Parameters
    ----------
    label
        Name of the phantom in the message (e.g. ``"cine phantom"``).
    basis
        The spatial basis.
    weights
        ``(T, K)`` weights; the row with the largest ``|weights[:, 0]|`` is checked.
    points
        ``(N, ndim)`` positions in mm where the gradient is evaluated.
    fov
        ``(ndim,)`` field of view in mm (for the message).
    """
    worst = weights[int(np.argmax(np.abs(weights[:, 0])))]
    steep = max_gradient(basis, worst, points)
    if steep >= 0.95:
        raise ConfigurationError(
            f"{label}: the motion (gradient {steep:.2f}) is too large for a field of view of "
            f"{' x '.join(f'{v:.0f}' for v in fov)} mm; use a larger shape or spacing"
        )


def tumour_sample_points(
    centre_fraction: Sequence[float],
    radii_mm: Sequence[float],
    fov: np.ndarray,
    edge_mm: float,
    step_mm: float,
) -> np.ndarray:
    """``(N, ndim)`` regular points (mm, spacing ``step_mm``) covering the tumour and its soft edge.

    The box is centred on ``centre_fraction * fov`` and reaches ``radii_mm + 6 * edge_mm`` along
    each axis.
    """
    centre = np.array(centre_fraction) * fov
    reach = np.array(radii_mm) + 6.0 * edge_mm
    axes = [np.arange(c - r, c + r + step_mm, step_mm) for c, r in zip(centre, reach, strict=True)]
    return np.stack([m.ravel() for m in np.meshgrid(*axes, indexing="ij")], axis=1)


def phantom_sequence(
    frames: np.ndarray,
    spacing_mm: tuple[float, ...],
    times: np.ndarray,
    raw_range: tuple[float, float],
    extra: dict[str, Any],
) -> ImageSequence:
    """The phantom's image sequence with its provenance (``extra`` describes the phantom)."""
    prov = Provenance(
        source="phantom",
        spacing_source="phantom",
        frame_period_source="phantom",
        raw_range=raw_range,
        extra=extra,
    )
    return ImageSequence(frames=frames, spacing=spacing_mm, times=times, provenance=prov)


def true_field_series(
    fields: np.ndarray, spacing_mm: tuple[float, ...], times: np.ndarray
) -> DisplacementFieldSeries:
    """Ground-truth displacements (mm, reference frame 0, ``I_0(x) = I_t(x + u_t(x))``)."""
    return DisplacementFieldSeries(
        fields=fields,
        spacing=spacing_mm,
        times=times,
        reference_index=0,
        provenance=Provenance(
            source="phantom",
            spacing_source="phantom",
            frame_period_source="phantom",
            extra={"method": "phantom ground truth", "convention": "I_0(x) = I_t(x + u_t(x))"},
        ),
    )


def tumour_trajectory(positions: np.ndarray, times: np.ndarray, axes: str) -> PointTrajectories:
    """The tumour centroid, ``(T, 1, 3)`` mm, as a one-point trajectory named ``"tumour"``."""
    return PointTrajectories(
        positions=positions,
        times=times,
        names=("tumour",),
        provenance=Provenance(
            source="phantom",
            frame_period_source="phantom",
            extra={"axes": axes},
        ),
    )


def sampled_signal(breathing: BreathingParams, times: np.ndarray) -> BreathingSignal:
    """The breathing signal of ``breathing`` at ``times`` (s)."""
    return BreathingSignal(
        times=times,
        signal=breathing.normalised(times),
        amplitude_mm=breathing.amplitude_mm,
        params=breathing,
    )
