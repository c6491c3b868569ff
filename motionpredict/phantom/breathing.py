"""Irregular breathing signals built from Lujan-type cos^2n cycles.

Model
-----
The superior-inferior (SI) excursion of the diaphragm, in mm, is a chain of breathing cycles. Cycle
``k`` runs from end-inhale peak ``k`` (height ``a_k`` mm above end-exhale) to peak ``k + 1``; its
period ``tau_k`` (s) is the peak-to-peak interval. Inside it the excursion

* falls for ``f_k = (1 - q) d_k`` s: ``z = a_k cos^{2n}(pi/2 * s / f_k)``,
* rests at end-exhale for a pause ``p_k`` s (often zero): ``z = 0``,
* rises for ``r_k = q d_k`` s: ``z = a_{k+1} sin^{2n}(pi/2 * s / r_k)``,

with ``d_k = tau_k - p_k``, ``s`` the time since the start of the phase, ``q`` the inhale fraction
and ``n`` the Lujan exponent (Lujan et al., Med. Phys. 1999: ``z(t) = z0 - b cos^{2n}(pi t / tau)``;
larger ``n`` means a longer end-exhale dwell). A slow baseline drift is added:
``b(t) = rate * t + w (sin(2 pi t / T_w + phi) - sin(phi))``. Time 0 is the start of the first
inhalation, so ``z(0) = 0`` (end-exhale) exactly.

Between cycles, ``log tau_k`` and ``log a_k`` follow AR(1) processes around the run's mean period
and nominal amplitude (drift); occasional deep breaths multiply a peak by 1.4-1.8 and lengthen
their cycle.
All periods are kept in 3-6 s and all peak heights (peak-to-peak amplitudes) in 5-30 mm.

The normalised signal is ``z(t) / A`` with ``A`` the run's nominal amplitude (mm): ordinary cycles
reach about 1, deep breaths up to about 1.8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from motionpredict.errors import ConfigurationError
from motionpredict.phantom.records import Record, seed_streams

#: Allowed cycle periods (peak-to-peak), s.
PERIOD_RANGE_S = (3.0, 6.0)
#: Allowed peak-to-peak amplitudes of one cycle, mm.
AMPLITUDE_RANGE_MM = (5.0, 30.0)


@dataclass(frozen=True)
class BreathingParams(Record):
    """Everything drawn for one breathing signal; :meth:`excursion_mm` applies it.

    Attributes
    ----------
    duration_s
        Time span the cycles cover, s (the signal is defined on ``[0, duration_s]``).
    amplitude_mm
        Nominal peak-to-peak amplitude ``A``, mm; the normalised signal is ``z / A``.
    mean_period_s
        Centre of the period process, s.
    exponent_n
        Lujan exponent ``n`` of ``cos^{2n}`` (1 to 3).
    inhale_fraction
        Fraction ``q`` of the breathing part of a cycle spent inhaling.
    first_peak_s
        Time of peak 0 (negative: the signal starts at the end of cycle 0's exhalation and pause).
    periods_s
        ``K`` peak-to-peak periods ``tau_k``, s.
    peaks_mm
        ``K + 1`` peak heights ``a_k`` above end-exhale, mm.
    pauses_s
        ``K`` end-exhale pauses ``p_k``, s (0 for most cycles).
    deep
        ``K + 1`` flags: peak ``k`` is a deep breath.
    baseline_rate_mm_s
        Linear baseline drift, mm/s.
    wander_mm, wander_period_s, wander_phase_rad
        Slow sinusoidal baseline wander ``w`` (mm), ``T_w`` (s) and ``phi`` (rad).
    """

    duration_s: float
    amplitude_mm: float
    mean_period_s: float
    exponent_n: float
    inhale_fraction: float
    first_peak_s: float
    periods_s: tuple[float, ...]
    peaks_mm: tuple[float, ...]
    pauses_s: tuple[float, ...]
    deep: tuple[bool, ...]
    baseline_rate_mm_s: float
    wander_mm: float
    wander_period_s: float
    wander_phase_rad: float

    def __post_init__(self) -> None:
        k = len(self.periods_s)
        if (
            k < 1
            or len(self.peaks_mm) != k + 1
            or len(self.pauses_s) != k
            or len(self.deep) != k + 1
        ):
            raise ConfigurationError(
                "BreathingParams: need K periods, K pauses, K + 1 peaks and K + 1 deep flags; got "
                f"{k}, {len(self.pauses_s)}, {len(self.peaks_mm)}, {len(self.deep)}"
            )
        if self.amplitude_mm <= 0 or self.exponent_n <= 0 or not 0 < self.inhale_fraction < 1:
            raise ConfigurationError("BreathingParams: amplitude, exponent must be > 0, 0 < q < 1")
        if self.end_s < self.duration_s:
            raise ConfigurationError(
                f"BreathingParams: cycles end at {self.end_s:.3f} s, before the duration "
                f"{self.duration_s:.3f} s"
            )

    @property
    def peak_times_s(self) -> np.ndarray:
        """``(K + 1,)`` times of the end-inhale peaks, s."""
        return self.first_peak_s + np.concatenate([[0.0], np.cumsum(self.periods_s)])

    @property
    def end_s(self) -> float:
        """Time of the last peak, s: the end of the span the cycles define."""
        return float(self.first_peak_s + math.fsum(self.periods_s))

    def inhale_onsets_s(self) -> np.ndarray:
        """``(K,)`` times at which each cycle's inhalation starts, s (the first one is 0)."""
        tau = np.asarray(self.periods_s)
        pause = np.asarray(self.pauses_s)
        fall = (1.0 - self.inhale_fraction) * (tau - pause)
        return self.peak_times_s[:-1] + (fall + pause)

    def baseline_mm(self, times_s: np.ndarray) -> np.ndarray:
        """Baseline drift ``b(t)`` in mm at ``times_s`` (any shape, s); ``b(0) = 0``."""
        t = np.asarray(times_s, dtype=np.float64)
        w = 2.0 * np.pi / self.wander_period_s
        return self.baseline_rate_mm_s * t + self.wander_mm * (
            np.sin(w * t + self.wander_phase_rad) - np.sin(self.wander_phase_rad)
        )

    def cycles_mm(self, times_s: np.ndarray) -> np.ndarray:
        """Cycle part of the excursion (no baseline), mm, at ``times_s`` (any shape, s)."""
        t = np.asarray(times_s, dtype=np.float64)
        peaks_t = self.peak_times_s
        if t.size and (t.min() < peaks_t[0] or t.max() > peaks_t[-1]):
            raise ConfigurationError(
                f"breathing signal asked for times {t.min():.3f}-{t.max():.3f} s outside the drawn "
                f"span {peaks_t[0]:.3f}-{peaks_t[-1]:.3f} s; draw parameters for a longer duration"
            )
        k = np.clip(np.searchsorted(peaks_t, t, side="right") - 1, 0, len(self.periods_s) - 1)
        tau = np.asarray(self.periods_s)[k]
        pause = np.asarray(self.pauses_s)[k]
        d = tau - pause
        fall = (1.0 - self.inhale_fraction) * d
        rise = self.inhale_fraction * d
        a_from = np.asarray(self.peaks_mm)[k]
        a_to = np.asarray(self.peaks_mm)[k + 1]
        s = t - peaks_t[k]
        two_n = 2.0 * self.exponent_n
        falling = a_from * np.cos(0.5 * np.pi * np.clip(s / fall, 0.0, 1.0)) ** two_n
        s_rise = np.clip((s - fall - pause) / rise, 0.0, 1.0)
        rising = a_to * np.sin(0.5 * np.pi * s_rise) ** two_n
        out = np.where(s < fall, falling, np.where(s < fall + pause, 0.0, rising))
        return np.asarray(out, dtype=np.float64)

    def excursion_mm(self, times_s: np.ndarray) -> np.ndarray:
        """SI excursion ``z(t) = cycles + baseline`` in mm (positive = towards inhale)."""
        return self.cycles_mm(times_s) + self.baseline_mm(times_s)

    def normalised(self, times_s: np.ndarray) -> np.ndarray:
        """Normalised signal ``z(t) / A`` (0 at end-exhale, about 1 at an ordinary end-inhale)."""
        return self.excursion_mm(times_s) / self.amplitude_mm


@dataclass(eq=False)
class BreathingSignal:
    """A sampled breathing signal.

    Attributes
    ----------
    times
        ``(T,)`` sample times, s.
    signal
        ``(T,)`` normalised SI excursion (0 at end-exhale, about 1 at end-inhale).
    amplitude_mm
        Scale ``A`` in mm: ``signal * amplitude_mm`` is the diaphragm's SI excursion in mm.
    params
        The drawn parameters; ``breathing_signal(..., params=params)`` replays the run.
    """

    times: np.ndarray
    signal: np.ndarray
    amplitude_mm: float
    params: BreathingParams

    @property
    def excursion_mm(self) -> np.ndarray:
        """``(T,)`` SI excursion in mm."""
        return self.signal * self.amplitude_mm


def _check_range(name: str, value: float, lo: float, hi: float, unit: str) -> float:
    value = float(value)
    if not (np.isfinite(value) and lo <= value <= hi):
        raise ConfigurationError(f"{name} must be within {lo}-{hi} {unit}, got {value}")
    return value


def draw_breathing_params(
    *,
    duration_s: float,
    seed: int | np.random.Generator = 0,
    amplitude_mm: float | None = None,
    mean_period_s: float | None = None,
    irregularity: float = 1.0,
    deep_breath_probability: float = 0.06,
    pause_probability: float = 0.25,
) -> BreathingParams:
    """Draw the random parameters of a breathing signal covering ``[0, duration_s]``.

    Parameters
    ----------
    duration_s
        Length of the signal to cover, s (> 0).
    seed
        Integer seed or a NumPy generator to draw from.
    amplitude_mm
        Nominal peak-to-peak amplitude, mm (5-30); drawn uniformly in 8-20 mm when ``None``.
    mean_period_s
        Mean cycle period, s (3-6); drawn uniformly in 3.5-5 s when ``None``.
    irregularity
        Scales the cycle-to-cycle drift of period and amplitude and the baseline drift
        (0 = perfectly regular apart from deep breaths and pauses; 1 = default; at most 3).
    deep_breath_probability, pause_probability
        Probability that a cycle ends with a deep breath / has an end-exhale pause.

    Returns
    -------
    BreathingParams
        The record; apply it with :meth:`BreathingParams.excursion_mm`.
    """
    duration_s = float(duration_s)
    if not (np.isfinite(duration_s) and duration_s > 0):
        raise ConfigurationError(f"duration_s must be positive, got {duration_s} s")
    irregularity = _check_range("irregularity", irregularity, 0.0, 3.0, "")
    p_deep = _check_range("deep_breath_probability", deep_breath_probability, 0.0, 1.0, "")
    p_pause = _check_range("pause_probability", pause_probability, 0.0, 1.0, "")
    rng = seed if isinstance(seed, np.random.Generator) else seed_streams(seed, 1)[0]
    lo_t, hi_t = PERIOD_RANGE_S
    lo_a, hi_a = AMPLITUDE_RANGE_MM
    # Global quantities: always drawn (stream stays aligned whether or not a value is given).
    draws = rng.uniform(size=8)
    amp = lo_a + 3.0 + 12.0 * draws[0] if amplitude_mm is None else amplitude_mm
    amp = _check_range("amplitude_mm", amp, lo_a, hi_a, "mm")
    mean_t = 3.5 + 1.5 * draws[1] if mean_period_s is None else mean_period_s
    mean_t = _check_range("mean_period_s", mean_t, lo_t, hi_t, "s")
    exponent_n = 1.0 + 2.0 * draws[2]
    inhale_fraction = 0.38 + 0.10 * draws[3]
    rate = irregularity * 0.03 * (2.0 * draws[4] - 1.0)
    wander = irregularity * 1.0 * draws[5]
    wander_period = 30.0 + 60.0 * draws[6]
    wander_phase = 2.0 * np.pi * draws[7]

    rho, sd_t, sd_a = 0.7, 0.07 * irregularity, 0.12 * irregularity
    e_t = e_a = 0.0
    periods: list[float] = []
    pauses: list[float] = []
    peaks: list[float] = []
    deep: list[bool] = []

    def next_peak() -> tuple[float, bool, float]:
        nonlocal e_a
        z, u_deep, u_gain = rng.standard_normal(), rng.uniform(), rng.uniform()
        e_a = rho * e_a + sd_a * z
        is_deep = bool(u_deep < p_deep)
        a = amp * math.exp(e_a) * ((1.4 + 0.4 * u_gain) if is_deep else 1.0)
        return float(np.clip(a, lo_a, hi_a)), is_deep, 1.25 if is_deep else 1.0

    a0, d0, stretch = next_peak()
    peaks.append(a0)
    deep.append(d0)
    first_peak = 0.0
    end = 0.0
    while True:
        z, u_pause, u_len = rng.standard_normal(), rng.uniform(), rng.uniform()
        e_t = rho * e_t + sd_t * z
        tau = float(np.clip(mean_t * math.exp(e_t) * stretch, lo_t, hi_t))
        pause = min(0.3 + 0.9 * u_len, 0.3 * tau) if u_pause < p_pause else 0.0
        a, is_deep, stretch = next_peak()
        periods.append(tau)
        pauses.append(pause)
        peaks.append(a)
        deep.append(is_deep)
        if len(periods) == 1:
            # Time 0 = start of the first inhalation (end of cycle 0's fall and pause).
            first_peak = -((1.0 - inhale_fraction) * (tau - pause) + pause)
            end = first_peak
        end += tau
        if end >= duration_s:
            break
    return BreathingParams(
        duration_s=duration_s,
        amplitude_mm=amp,
        mean_period_s=mean_t,
        exponent_n=float(exponent_n),
        inhale_fraction=float(inhale_fraction),
        first_peak_s=float(first_peak),
        periods_s=tuple(periods),
        peaks_mm=tuple(peaks),
        pauses_s=tuple(pauses),
        deep=tuple(deep),
        baseline_rate_mm_s=float(rate),
        wander_mm=float(wander),
        wander_period_s=float(wander_period),
        wander_phase_rad=float(wander_phase),
    )


def sample_times(n: int, period_s: float) -> np.ndarray:
    """``(n,)`` times ``k * period_s`` in s, computed without accumulating rounding errors."""
    return np.arange(n, dtype=np.float64) * float(period_s)


def breathing_signal(
    *,
    duration_s: float,
    period_s: float,
    seed: int = 0,
    params: BreathingParams | None = None,
    amplitude_mm: float | None = None,
    mean_period_s: float | None = None,
    irregularity: float = 1.0,
) -> BreathingSignal:
    """Sample an irregular breathing signal.

    Parameters
    ----------
    duration_s
        Length of the signal, s; samples at ``k * period_s`` for ``0 <= k * period_s < duration_s``
        (at least one sample).
    period_s
        Sampling period, s (e.g. 0.1 for 10 Hz). Not the breathing period.
    seed
        Seed of the random draw (ignored when ``params`` is given).
    params
        A record from an earlier run to replay exactly; drawn from ``seed`` when ``None``.
    amplitude_mm, mean_period_s, irregularity
        Passed to :func:`draw_breathing_params` when drawing.

    Returns
    -------
    BreathingSignal
        ``times`` ``(T,)`` s, ``signal`` ``(T,)`` normalised, ``amplitude_mm``, ``params``.
    """
    period_s = float(period_s)
    if not (np.isfinite(period_s) and period_s > 0):
        raise ConfigurationError(f"period_s (sampling period) must be positive, got {period_s} s")
    duration_s = float(duration_s)
    if not (np.isfinite(duration_s) and duration_s > 0):
        raise ConfigurationError(f"duration_s must be positive, got {duration_s} s")
    n = max(1, math.ceil(duration_s / period_s - 1e-9))
    times = sample_times(n, period_s)
    if params is None:
        params = draw_breathing_params(
            duration_s=duration_s,
            seed=seed,
            amplitude_mm=amplitude_mm,
            mean_period_s=mean_period_s,
            irregularity=irregularity,
        )
    return BreathingSignal(
        times=times,
        signal=params.normalised(times),
        amplitude_mm=params.amplitude_mm,
        params=params,
    )
