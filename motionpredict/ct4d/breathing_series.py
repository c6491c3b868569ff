"""A breathing-length series of volumes from the ten phases of one 4DCT.

A 4DCT holds one breathing cycle (``n`` phases, phase 0 = the reference volume). Online
forecasters need long trajectories, so, as in the reference study, the phases are *cycled*: the
series is sampled at ``rate_hz`` (2.5 Hz by default) while a continuous breathing phase runs
through the ``n`` phases once per breathing cycle, with seeded, realistic variability.

Model (sample ``k`` at time ``t_k = k / rate_hz``)
-------------------------------------------------
* Cycle ``c`` lasts ``P_c = mean_period_s * exp(period_cv * z_c)`` (``z_c ~ N(0, 1)``, clipped to
  0.5-2 times the mean). Within it the phase runs linearly: ``phi(t) = n (t - t_c) / P_c``.
* Amplitude factor ``a_c = 1 + amplitude_cv * z'_c`` (clipped to 0.3-1.8) per cycle, linearly
  interpolated between cycle centres: ``a(t)``.
* Drift along the spine (axis ``spine_axis``, mm):
  ``d(t) = r t / 60 + w (sin(2 pi t / P_w + psi) - sin(psi))`` with a drawn rate ``r ~ N(0,
  drift_sd_mm_per_min)``, wander amplitude ``w`` and period ``P_w``, phase ``psi ~ U(0, 2 pi)``;
  ``d(0) = 0``.
* Field of sample ``k`` (``i = floor(phi)``, ``f = phi - i``, phases cyclic)::

      u_k(x) = a(t_k) [(1 - f) U_i(x) + f U_{i+1 mod n}(x)] + d(t_k) e_spine

  and the volume of sample ``k`` is the reference volume pushed forward by ``u_k`` (Gaussian
  splatting, :func:`motionpredict.registration.warp_forward`), i.e. the images are interpolated
  between phases through the fields.

Everything drawn is kept in :class:`SeriesParams` (``to_dict`` / ``from_dict``); passing it back
replays the series exactly, and the same seed gives the same series.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from motionpredict.ct4d.points import _check_points, mm_to_index, sample_field
from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.phantom.records import Record, seed_streams
from motionpredict.registration import warp_forward
from motionpredict.sequences import DisplacementFieldSeries, PointTrajectories, Provenance


@dataclass(frozen=True)
class SeriesParams(Record):
    """Options and every random draw of a breathing series (replayable record).

    Attributes
    ----------
    seed
        Seed the draws came from.
    rate_hz
        Sampling rate of the series, Hz (volumes per s).
    duration_s
        Length of the series, s.
    mean_period_s
        Mean breathing period, s.
    period_cv, amplitude_cv
        Relative variability of the cycle period (log-normal) and amplitude factor (normal).
    drift_sd_mm_per_min
        Standard deviation of the drawn linear drift rate, mm/min.
    spine_axis
        Array axis of the spine (0 = slices, the superior-inferior axis of axial CT).
    cycle_periods_s
        Drawn period of each cycle, s.
    cycle_amplitudes
        Drawn amplitude factor of each cycle (1 = the 4DCT's own amplitude).
    drift_rate_mm_per_min, wander_mm, wander_period_s, wander_phase_rad
        Drawn drift: linear rate (mm/min), sinusoidal wander amplitude (mm), period (s) and
        phase (rad).
    """

    seed: int
    rate_hz: float
    duration_s: float
    mean_period_s: float
    period_cv: float
    amplitude_cv: float
    drift_sd_mm_per_min: float
    spine_axis: int
    cycle_periods_s: tuple[float, ...]
    cycle_amplitudes: tuple[float, ...]
    drift_rate_mm_per_min: float
    wander_mm: float
    wander_period_s: float
    wander_phase_rad: float

    @property
    def n_samples(self) -> int:
        """Number of volumes ``T = floor(duration_s * rate_hz)``."""
        return int(np.floor(self.duration_s * self.rate_hz + 1e-9))

    def times(self) -> np.ndarray:
        """``(T,)`` sample times, s."""
        return np.arange(self.n_samples) / self.rate_hz


def draw_series_params(*, seed: int = 0, rate_hz: float = 2.5, duration_s: float = 300.0,
                       mean_period_s: float = 4.0, period_cv: float = 0.12,
                       amplitude_cv: float = 0.12, drift_sd_mm_per_min: float = 0.5,
                       wander_mm: float = 0.5, spine_axis: int = 0) -> SeriesParams:
    """Draw a :class:`SeriesParams` record (see the module docstring for the model).

    Parameters
    ----------
    seed
        Seed of every draw.
    rate_hz
        Volumes per second (2.5 Hz: ten phases per 4 s cycle).
    duration_s
        Series length, s.
    mean_period_s
        Mean breathing period, s.
    period_cv, amplitude_cv
        Cycle-to-cycle variability (0 = perfectly regular).
    drift_sd_mm_per_min
        Spread of the linear drift rate along the spine, mm/min.
    wander_mm
        Largest amplitude of the slow sinusoidal wander along the spine, mm (drawn in
        ``[0, wander_mm]``).
    spine_axis
        Array axis of the spine (0 for axial CT in array order).
    """
    for name, value in (("rate_hz", rate_hz), ("duration_s", duration_s),
                        ("mean_period_s", mean_period_s)):
        if not (np.isfinite(value) and value > 0):
            raise ConfigurationError(f"breathing series: {name} must be positive, got {value}")
    for name, value in (("period_cv", period_cv), ("amplitude_cv", amplitude_cv),
                        ("drift_sd_mm_per_min", drift_sd_mm_per_min), ("wander_mm", wander_mm)):
        if not (np.isfinite(value) and value >= 0):
            raise ConfigurationError(f"breathing series: {name} must be >= 0, got {value}")
    if spine_axis not in (0, 1, 2):
        raise ConfigurationError(f"spine_axis must be 0, 1 or 2, got {spine_axis}")
    if duration_s * rate_hz < 2:
        raise ConfigurationError("breathing series: duration_s * rate_hz must give >= 2 volumes")
    rng_p, rng_a, rng_d = seed_streams(seed, 3)
    n_cycles = int(np.ceil(duration_s / (0.5 * mean_period_s))) + 1  # enough even if all short
    periods = mean_period_s * np.exp(period_cv * rng_p.standard_normal(n_cycles))
    periods = np.clip(periods, 0.5 * mean_period_s, 2.0 * mean_period_s)
    amps = np.clip(1.0 + amplitude_cv * rng_a.standard_normal(n_cycles), 0.3, 1.8)
    rate = float(drift_sd_mm_per_min * rng_d.standard_normal())
    wander = float(wander_mm * rng_d.uniform())
    wander_period = float(rng_d.uniform(60.0, 180.0))
    wander_phase = float(rng_d.uniform(0.0, 2.0 * np.pi))
    return SeriesParams(
        seed=int(seed), rate_hz=float(rate_hz), duration_s=float(duration_s),
        mean_period_s=float(mean_period_s), period_cv=float(period_cv),
        amplitude_cv=float(amplitude_cv), drift_sd_mm_per_min=float(drift_sd_mm_per_min),
        spine_axis=int(spine_axis), cycle_periods_s=tuple(float(p) for p in periods),
        cycle_amplitudes=tuple(float(a) for a in amps), drift_rate_mm_per_min=rate,
        wander_mm=wander, wander_period_s=wander_period, wander_phase_rad=wander_phase,
    )


def series_schedule(params: SeriesParams, n_phases: int) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray, np.ndarray]:
    """Apply a record: per-sample times, continuous phase, amplitude factor and drift.

    Returns
    -------
    times, phase, amplitude, drift_mm
        ``(T,)`` arrays: s; phase in ``[0, n_phases)``; unitless; mm along the spine.
    """
    times = params.times()
    periods = np.asarray(params.cycle_periods_s)
    starts = np.concatenate([[0.0], np.cumsum(periods)])
    if starts[-1] < times[-1]:
        raise ConfigurationError("breathing series: the drawn cycles do not cover the duration")
    cycle = np.searchsorted(starts, times, side="right") - 1
    phase = n_phases * (times - starts[cycle]) / periods[cycle]
    phase = np.clip(phase, 0.0, np.nextafter(float(n_phases), 0.0))
    centres = starts[:-1] + 0.5 * periods
    amplitude = np.interp(times, centres, np.asarray(params.cycle_amplitudes))
    w, pw, psi = params.wander_mm, params.wander_period_s, params.wander_phase_rad
    drift = (params.drift_rate_mm_per_min * times / 60.0
             + w * (np.sin(2.0 * np.pi * times / pw + psi) - np.sin(psi)))
    return times, phase, amplitude, drift


class BreathingSeries:
    """A long series of volumes cycled through the phases of a 4DCT (lazy: nothing is rendered
    until asked for).

    Parameters
    ----------
    reference
        ``(D, H, W)`` reference volume (phase ``phase_fields.reference_index``).
    phase_fields
        ``(n, D, H, W, 3)`` fields of the ``n`` phases relative to the reference, mm.
    params
        A :class:`SeriesParams` record (from :func:`draw_series_params` or an earlier run).

    Attributes
    ----------
    times, phase, amplitude, drift_mm
        ``(T,)`` schedule of the samples (see :func:`series_schedule`).
    """

    def __init__(self, reference: np.ndarray, phase_fields: DisplacementFieldSeries,
                 params: SeriesParams) -> None:
        ref = np.asarray(reference, dtype=np.float32)
        if phase_fields.ndim != 3 or ref.shape != phase_fields.shape:
            raise ValidationError(
                f"reference volume {ref.shape} and phase fields {phase_fields.shape} must share a"
                " 3D grid"
            )
        if phase_fields.n_frames < 2:
            raise ValidationError("a breathing series needs at least 2 phases")
        self.reference = ref
        self.phase_fields = phase_fields
        self.params = params
        self.n_phases = phase_fields.n_frames
        self.times, self.phase, self.amplitude, self.drift_mm = series_schedule(
            params, self.n_phases
        )
        self.spacing = phase_fields.spacing
        self.origin = phase_fields.origin

    @property
    def n_samples(self) -> int:
        """Number of volumes ``T``."""
        return int(self.times.shape[0])

    @property
    def frame_period_s(self) -> float:
        """Time between volumes, s."""
        return 1.0 / self.params.rate_hz

    def _check_index(self, k: int) -> int:
        k = int(k)
        if not 0 <= k < self.n_samples:
            raise ValidationError(f"sample {k} outside 0..{self.n_samples - 1}")
        return k

    def phase_weights(self, k: int) -> np.ndarray:
        """``(n_phases,)`` coefficients ``c`` with ``u_k = sum_i c_i U_i + d_k e_spine``."""
        k = self._check_index(k)
        i = int(np.floor(self.phase[k]))
        f = float(self.phase[k] - i)
        c = np.zeros(self.n_phases)
        c[i] += self.amplitude[k] * (1.0 - f)
        c[(i + 1) % self.n_phases] += self.amplitude[k] * f
        return c

    def field(self, k: int) -> np.ndarray:
        """``(D, H, W, 3)`` field of sample ``k`` relative to the reference, mm."""
        c = self.phase_weights(k)
        u = np.tensordot(c.astype(np.float32), self.phase_fields.fields, axes=(0, 0))
        u[..., self.params.spine_axis] += np.float32(self.drift_mm[k])
        return u

    def fields(self, indices: np.ndarray | list[int]) -> DisplacementFieldSeries:
        """Fields of several samples as a :class:`DisplacementFieldSeries` (mm)."""
        idx = np.asarray(indices, dtype=int)
        return DisplacementFieldSeries(
            fields=np.stack([self.field(k) for k in idx]), spacing=self.spacing,
            times=self.times[idx], reference_index=0, origin=self.origin,
            provenance=Provenance(source="breathing series",
                                  extra={"series": self.params.to_dict(),
                                         "samples": idx.tolist()}),
        )

    def volume(self, k: int, *, sigma_px: float = 0.5) -> np.ndarray:
        """``(D, H, W)`` volume of sample ``k``: the reference pushed forward by ``u_k``."""
        u_px = self.field(k) / np.asarray(self.spacing, dtype=np.float32)
        return np.asarray(warp_forward(self.reference, u_px, sigma=sigma_px))

    def track(self, points_mm: np.ndarray, *,
              names: tuple[str, ...] | None = None) -> PointTrajectories:
        """``(T, N, 3)`` positions (mm) of reference points in every sample: ``p + u_k(p)``."""
        pts = _check_points(points_mm)
        idx = mm_to_index(pts, self.spacing, self.origin)
        at_phases = np.stack([sample_field(f, idx) for f in self.phase_fields.fields])  # (n,N,3)
        coeffs = np.stack([self.phase_weights(k) for k in range(self.n_samples)])  # (T, n)
        pos = pts[None] + np.tensordot(coeffs, at_phases, axes=(1, 0))
        pos[..., self.params.spine_axis] += self.drift_mm[:, None]
        return PointTrajectories(
            positions=pos, times=self.times, names=names,
            provenance=Provenance(source="breathing series", frame_period_source="option",
                                  extra={"series": self.params.to_dict(),
                                         "reference_mm": pts.tolist()}),
        )

    def signal(self, phase_signal: np.ndarray, *, noise: float = 0.0,
               seed: int = 0) -> np.ndarray:
        """An external-surrogate signal of every sample (e.g. a chest-surface or marker signal).

        ``s_k = a_k [(1 - f) S_i + f S_{i+1}] + noise``, where ``S`` holds one value per phase
        (the phantom's surface signal at its phases, a marker coordinate, a PCA weight). The drift
        along the spine is *internal* and not seen by the surrogate.

        Parameters
        ----------
        phase_signal
            ``(n_phases,)`` or ``(n_phases, p)`` surrogate values at the phases.
        noise
            Standard deviation of added Gaussian noise (the signal's unit).
        seed
            Seed of the noise.

        Returns
        -------
        numpy.ndarray
            ``(T, p)`` surrogate samples.
        """
        s = np.asarray(phase_signal, dtype=np.float64)
        s = s[:, None] if s.ndim == 1 else s
        if s.shape[0] != self.n_phases or not np.all(np.isfinite(s)):
            raise ValidationError(
                f"phase signal must be finite with {self.n_phases} rows, got shape {s.shape}"
            )
        coeffs = np.stack([self.phase_weights(k) for k in range(self.n_samples)])
        out = coeffs @ s
        if noise > 0:
            out = out + noise * np.random.default_rng(seed).standard_normal(out.shape)
        return out

    def with_params(self, **changes: Any) -> BreathingSeries:
        """Same phases, a record with some fields changed."""
        return BreathingSeries(self.reference, self.phase_fields, replace(self.params, **changes))


def make_breathing_series(reference: np.ndarray, phase_fields: DisplacementFieldSeries, *,
                          seed: int = 0, params: SeriesParams | None = None,
                          **options: float) -> BreathingSeries:
    """Build a breathing-length series from a 4DCT's reference volume and phase fields.

    Parameters
    ----------
    reference
        ``(D, H, W)`` reference volume.
    phase_fields
        Fields of every phase relative to the reference, mm.
    seed
        Seed of the draws (ignored when ``params`` is given).
    params
        A record from an earlier run, replayed exactly.
    **options
        Options of :func:`draw_series_params` (``rate_hz``, ``duration_s``, ``mean_period_s``...).
    """
    if params is None:
        params = draw_series_params(seed=seed, **options)  # type: ignore[arg-type]
    return BreathingSeries(reference, phase_fields, params)
