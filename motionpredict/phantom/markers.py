"""External-marker phantom: three chest/abdomen markers driven by a breathing signal.

Like the Krilavicius recordings in ``../shared/data/markers`` (markers ``LAC``, ``UAC``, ``UCC``:
lower abdomen, upper abdomen, upper chest), positions are 3D in mm in the tracking device's frame
with ``z`` the superior-inferior (spine) axis. Marker ``m`` at time ``t`` is

``p_m(t) = b_m + g_m e(t - lag_m) d_m + n_m(t)``

with ``e`` the diaphragm excursion (mm) from :mod:`motionpredict.phantom.breathing`, ``b_m`` the
rest position, ``g_m`` the gain (mm of marker motion per mm of excursion; the abdomen moves most),
``d_m`` a unit direction (mostly along ``z`` and ``x``), ``lag_m`` a small delay of the chest behind
the abdomen, and ``n_m`` white Gaussian noise (0.1 mm by default, the resolution of the real data).
An internal tumour trajectory driven by the same signal, ``c(t) = c_0 + e(t) v`` (``v`` in mm per
mm, mostly SI), is returned as ground truth for surrogate (marker -> tumour) studies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from motionpredict.errors import ConfigurationError
from motionpredict.phantom.breathing import (
    BreathingParams,
    BreathingSignal,
    draw_breathing_params,
    sample_times,
)
from motionpredict.phantom.records import Record, seed_streams
from motionpredict.sequences import PointTrajectories, Provenance

#: Marker names, rest positions (mm) around which they are drawn, and gain ranges (mm/mm).
_MARKERS = (
    ("LAC", (-490.0, 3.5, 69.0), (0.8, 1.2)),
    ("UAC", (-395.0, 4.0, 90.0), (0.6, 0.9)),
    ("UCC", (-285.0, 1.7, 96.0), (0.4, 0.7)),
)


@dataclass(frozen=True)
class MarkerParams(Record):
    """Everything drawn for one marker phantom; ``make_markers(params=...)`` replays it exactly.

    Attributes
    ----------
    duration_s, rate_hz
        Length (s) and sampling rate (Hz): samples at ``k / rate_hz`` for ``k / rate_hz <
        duration_s``.
    names
        Marker names.
    rest_mm
        Rest positions ``b_m`` (x, y, z), mm.
    directions
        Unit directions ``d_m``.
    gains
        ``g_m``, mm of marker motion per mm of diaphragm excursion.
    lags_s
        ``lag_m``, s.
    noise_mm, noise_seed
        Noise standard deviation per coordinate (mm) and its seed.
    tumour_rest_mm, tumour_motion
        ``c_0`` (mm) and ``v`` (mm per mm of excursion) of the internal tumour.
    breathing
        The breathing record.
    """

    duration_s: float
    rate_hz: float
    names: tuple[str, ...]
    rest_mm: tuple[tuple[float, float, float], ...]
    directions: tuple[tuple[float, float, float], ...]
    gains: tuple[float, ...]
    lags_s: tuple[float, ...]
    noise_mm: float
    noise_seed: int
    tumour_rest_mm: tuple[float, float, float]
    tumour_motion: tuple[float, float, float]
    breathing: BreathingParams

    def times(self) -> np.ndarray:
        """``(T,)`` sample times, s."""
        period = 1.0 / self.rate_hz
        return sample_times(max(1, math.ceil(self.duration_s * self.rate_hz - 1e-9)), period)


@dataclass(eq=False)
class PhantomMarkers:
    """A generated external-marker phantom.

    Attributes
    ----------
    sequence
        Marker positions, ``(T, 3, 3)`` mm, names ``LAC``, ``UAC``, ``UCC``.
    tumour
        Internal tumour centroid, ``(T, 1, 3)`` mm in the same frame (ground truth, no noise).
    signal
        The breathing signal at the sample times.
    params
        Everything drawn (JSON-able with ``params.to_dict()``).
    """

    sequence: PointTrajectories
    tumour: PointTrajectories
    signal: BreathingSignal
    params: MarkerParams


def draw_marker_params(
    *,
    seed: int = 0,
    duration_s: float = 120.0,
    rate_hz: float = 10.0,
    amplitude_mm: float | None = None,
    mean_period_s: float | None = None,
    irregularity: float = 1.0,
    noise_mm: float = 0.1,
) -> MarkerParams:
    """Draw every random quantity of a marker phantom (see :func:`make_markers`)."""
    if not (np.isfinite(rate_hz) and rate_hz > 0):
        raise ConfigurationError(f"rate_hz must be positive, got {rate_hz} Hz")
    if not (np.isfinite(duration_s) and duration_s > 0):
        raise ConfigurationError(f"duration_s must be positive, got {duration_s} s")
    if not (np.isfinite(noise_mm) and noise_mm >= 0):
        raise ConfigurationError(f"noise_mm must be >= 0, got {noise_mm} mm")
    rng_b, rng_m, rng_n = seed_streams(seed, 3)
    breathing = draw_breathing_params(
        duration_s=float(duration_s),
        seed=rng_b,
        amplitude_mm=amplitude_mm,
        mean_period_s=mean_period_s,
        irregularity=irregularity,
    )
    rest, directions, gains, lags = [], [], [], []
    for i, (_, centre, (g_lo, g_hi)) in enumerate(_MARKERS):
        rest.append(
            tuple(float(c + d) for c, d in zip(centre, rng_m.uniform(-20, 20, 3), strict=True))
        )
        d = np.array([rng_m.uniform(0.4, 0.8), rng_m.uniform(-0.15, 0.15), 1.0])
        directions.append(tuple(float(v) for v in d / np.linalg.norm(d)))
        gains.append(float(rng_m.uniform(g_lo, g_hi)))
        lag = rng_m.uniform(0.0, 0.15) * i  # the chest lags the abdomen
        lags.append(float(lag))
    tumour_rest = tuple(float(v) for v in rng_m.uniform([-420, 100, 40], [-360, 160, 80]))
    tumour_motion = (
        float(rng_m.uniform(-0.05, 0.05)),
        float(rng_m.uniform(0.1, 0.3)),
        float(rng_m.uniform(0.5, 0.9)),
    )
    return MarkerParams(
        duration_s=float(duration_s),
        rate_hz=float(rate_hz),
        names=tuple(name for name, _, _ in _MARKERS),
        rest_mm=tuple(rest),  # type: ignore[arg-type]
        directions=tuple(directions),  # type: ignore[arg-type]
        gains=tuple(gains),
        lags_s=tuple(lags),
        noise_mm=float(noise_mm),
        noise_seed=int(rng_n.integers(2**63 - 1)),
        tumour_rest_mm=tumour_rest,  # type: ignore[arg-type]
        tumour_motion=tumour_motion,
        breathing=breathing,
    )


def make_markers(
    *,
    seed: int = 0,
    duration_s: float = 120.0,
    rate_hz: float = 10.0,
    amplitude_mm: float | None = None,
    mean_period_s: float | None = None,
    irregularity: float = 1.0,
    noise_mm: float = 0.1,
    params: MarkerParams | None = None,
) -> PhantomMarkers:
    """Generate three external-marker trajectories and an internal tumour trajectory.

    Parameters
    ----------
    seed
        Seed of every random draw; the same seed gives bit-identical output.
    duration_s
        Length, s.
    rate_hz
        Sampling rate, Hz (10 Hz like the Krilavicius data).
    amplitude_mm, mean_period_s, irregularity
        Breathing options, as in :func:`motionpredict.phantom.breathing_signal`.
    noise_mm
        Standard deviation of the white noise on every coordinate, mm.
    params
        A record from an earlier run: replayed exactly; all other options are ignored.

    Returns
    -------
    PhantomMarkers
        ``sequence`` (``(T, 3, 3)`` mm), ``tumour`` (``(T, 1, 3)`` mm), ``signal``, ``params``.
    """
    if params is None:
        params = draw_marker_params(
            seed=seed,
            duration_s=duration_s,
            rate_hz=rate_hz,
            amplitude_mm=amplitude_mm,
            mean_period_s=mean_period_s,
            irregularity=irregularity,
            noise_mm=noise_mm,
        )
    times = params.times()
    n_markers = len(params.names)
    positions = np.empty((len(times), n_markers, 3))
    for m in range(n_markers):
        exc = params.breathing.excursion_mm(times - params.lags_s[m])
        positions[:, m, :] = np.asarray(params.rest_mm[m]) + (
            params.gains[m] * exc[:, None] * np.asarray(params.directions[m])
        )
    if params.noise_mm > 0:
        rng = np.random.default_rng(params.noise_seed)
        positions += params.noise_mm * rng.standard_normal(positions.shape)
    exc = params.breathing.excursion_mm(times)
    tumour_pos = np.asarray(params.tumour_rest_mm) + exc[:, None] * np.asarray(params.tumour_motion)
    prov = Provenance(
        source="phantom",
        frame_period_source="phantom",
        extra={
            "phantom": params.to_dict(),
            "kind": "markers",
            "axes": "device frame, z = superior-inferior (spine) axis",
        },
    )
    return PhantomMarkers(
        sequence=PointTrajectories(
            positions=positions, times=times, names=params.names, provenance=prov
        ),
        tumour=PointTrajectories(
            positions=tumour_pos[:, None, :],
            times=times,
            names=("tumour",),
            provenance=Provenance(source="phantom", frame_period_source="phantom"),
        ),
        signal=BreathingSignal(
            times=times,
            signal=params.breathing.normalised(times),
            amplitude_mm=params.breathing.amplitude_mm,
            params=params.breathing,
        ),
        params=params,
    )
