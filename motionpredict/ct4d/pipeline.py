"""4DCT prediction pipeline: forecast internal points (or a surrogate), rebuild the future volume.

Steps (see ``docs/ct4d.md``)
----------------------------
1. Fields of every 4DCT phase relative to the reference phase (3D Lucas-Kanade, or known fields).
2. Internal points: user-given or picked around the tumour ROI
   (:func:`motionpredict.ct4d.points.pick_points`), tracked through the fields.
3. A breathing-length series cycled through the phases
   (:class:`motionpredict.ct4d.breathing_series.BreathingSeries`): long point trajectories.
4. Forecast: the ``(T, 3N)`` point coordinates (or any surrogate ``(T, p)``) are standardised with
   the statistics of the training window and fed to a registered forecaster online
   (predict-then-learn, :func:`motionpredict.forecasters.run_online`); horizon in s.
5. Correspondence: a model fitted on training pairs (the phases, optionally plus training samples
   of the series) maps the forecast surrogate to a 3D field; the reference volume is pushed
   forward by that field (Gaussian splatting, sigma 0.5 voxel) into the predicted volume.
6. Metrics on the test samples: point RMSE / max / jitter (mm), volume Pearson / nRMSE in the
   tumour ROI, and per-step times (forecast, correspondence, warp; ms).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from motionpredict.ct4d.breathing_series import BreathingSeries
from motionpredict.ct4d.correspondence import CorrespondenceModel
from motionpredict.ct4d.metrics import point_errors, volume_metrics
from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.forecasters import DivergenceEvent, Mode, Standardizer, run_online
from motionpredict.io.sidecar import roi_mask
from motionpredict.pipeline import horizon_to_steps, new_forecaster
from motionpredict.registration import warp_forward


def roi_mask_xyz(roi: Mapping[str, Sequence[int]], shape: tuple[int, ...]) -> np.ndarray:
    """Tumour ROI mask from 1-based inclusive ``x``, ``y``, ``z`` voxel ranges (sequence.json).

    The ranges follow the reference implementation's MATLAB convention: ``x`` = columns,
    ``y`` = rows, ``z`` = slices, so the mask in array-axis order ``(slices, rows, cols)`` spans
    ``z``, ``y``, ``x``.

    Parameters
    ----------
    roi
        ``{"x": [first, last], "y": [first, last], "z": [first, last]}``, 1-based inclusive.
    shape
        ``(D, H, W)`` volume shape.

    Raises
    ------
    ConfigurationError
        When a range is missing or is not two integers.
    ValidationError
        When a range lies outside the volume, or the volume is not 3D.
    """
    if len(shape) != 3:
        raise ValidationError(f"ROI needs 3 (first, last) pairs, got a {len(shape)}D shape")
    mask = roi_mask(roi, shape, strict=True)  # the one 1-based -> 0-based converter
    assert mask is not None  # strict: raises instead
    return mask


@dataclass
class SeriesForecast:
    """Forecasts of one method at one horizon over a surrogate series.

    Attributes
    ----------
    method, mode
        Forecaster name and mode (``"reference"`` = published look-ahead).
    horizon_s, horizon_steps
        Horizon in s and in samples.
    train_samples
        Number of samples of the training window (standardisation, offline fitting).
    predicted, true
        ``(T, p)`` forecasts aligned to the time they are for (NaN where none was issued) and
        the true series.
    step_ms
        ``(T,)`` wall time of each forecaster step (predict + learn), ms.
    events
        Divergence events of the forecaster.
    test_start
        First test sample (default: the end of the training window; later when a validation
        window lies between them).
    guarded
        ``(T,)`` bool: the forecast for ``t`` was the plausibility guard's fallback (empty when
        not recorded).
    """

    method: str
    mode: Mode
    horizon_s: float
    horizon_steps: int
    train_samples: int
    predicted: np.ndarray
    true: np.ndarray
    step_ms: np.ndarray
    events: list[DivergenceEvent] = field(default_factory=list)
    test_start: int | None = None
    guarded: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def test(self) -> slice:
        """Test samples: from ``test_start`` (default the end of the training window) on."""
        return slice(self.train_samples if self.test_start is None else self.test_start, None)

    def point_errors(self, window: slice | None = None) -> dict[str, float]:
        """Point RMSE / max / jitter (mm) on the test samples, or on ``window`` (e.g. a
        validation window), for a series of 3D points."""
        w = self.test if window is None else window
        p, y = self.predicted[w], self.true[w]
        if p.shape[1] % 3:
            raise ValidationError("point errors need a series of 3D points (3N columns)")
        return point_errors(p.reshape(p.shape[0], -1, 3), y.reshape(y.shape[0], -1, 3))


def forecast_series(series: np.ndarray, period_s: float, *, method: str, horizon_s: float,
                    train_samples: int, params: Mapping[str, Any] | None = None,
                    mode: Mode = "causal", seed: int = 0, round_horizon: bool = False,
                    test_start: int | None = None) -> SeriesForecast:
    """Forecast a ``(T, p)`` series (point coordinates in mm, a surrogate) ``horizon_s`` ahead.

    Parameters
    ----------
    series
        ``(T, p)`` samples (e.g. ``PointTrajectories.as_series()``).
    period_s
        Time between samples, s.
    method
        Registered forecaster name (``"rtrl"``, ``"lms"``, ``"linear"``...).
    horizon_s
        Horizon in s (a whole number of sample periods unless ``round_horizon``).
    train_samples
        Training window length (samples): standardisation statistics and offline fitting; the
        test samples are the ones after it.
    params
        Forecaster hyper-parameters (defaults of the method otherwise).
    mode
        ``"causal"`` (default) or ``"reference"``.
    seed
        Forecaster seed.
    round_horizon
        Round the horizon to a whole number of periods.
    test_start
        First test sample (default ``train_samples``).
    """
    y = np.asarray(series, dtype=np.float64)
    if y.ndim != 2 or not np.all(np.isfinite(y)):
        raise ValidationError(f"series must be a finite (T, p) array, got shape {y.shape}")
    n = y.shape[0]
    if not 2 <= int(train_samples) < n:
        raise ConfigurationError(f"train_samples must be in 2..{n - 1}, got {train_samples}")
    h = horizon_to_steps(float(horizon_s), float(period_s), round_horizon=round_horizon)
    if h >= int(train_samples):
        raise ConfigurationError(f"horizon of {h} samples is not shorter than the training window")
    std = Standardizer(y[:train_samples])
    forecaster = new_forecaster(method, horizon=h, n_features=y.shape[1], mode=mode,
                                 seed=seed, params=dict(params or {}),
                                 frame_period_s=float(period_s))
    run = run_online(forecaster, std.transform(y), fit_until=int(train_samples))
    predicted = std.inverse(run.predicted)
    return SeriesForecast(method=method, mode=run.mode, horizon_s=h * float(period_s),
                          horizon_steps=h, train_samples=int(train_samples), predicted=predicted,
                          true=y, step_ms=run.step_ms, events=run.events, test_start=test_start,
                          guarded=run.guarded)


def training_pairs(series: BreathingSeries, surrogate: np.ndarray, phase_surrogate: np.ndarray,
                   *, train_samples: int, n_from_train: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Training pairs of a correspondence model: the phases, plus training samples of the series.

    Parameters
    ----------
    series
        The breathing series.
    surrogate
        ``(T, p)`` surrogate of every sample of the series.
    phase_surrogate
        ``(n_phases, p)`` surrogate at the phases (e.g. tracked point positions).
    train_samples
        Training window length; only samples before it are used.
    n_from_train
        Number of training samples added, evenly spread over the window (0: phases only).

    Returns
    -------
    (surrogates, fields)
        ``(n, p)`` and ``(n, D, H, W, 3)`` mm.
    """
    s_ph = np.asarray(phase_surrogate, dtype=np.float64).reshape(series.n_phases, -1)
    fields = [series.phase_fields.fields]
    sur = [s_ph]
    if n_from_train > 0:
        idx = np.unique(np.linspace(0, train_samples - 1, int(n_from_train)).round().astype(int))
        fields.append(np.stack([series.field(k) for k in idx]))
        sur.append(np.asarray(surrogate, dtype=np.float64).reshape(series.n_samples, -1)[idx])
    return np.concatenate(sur), np.concatenate(fields)


@dataclass
class VolumeForecast:
    """Predicted volumes against the actual ones on some test samples.

    Attributes
    ----------
    indices
        ``(K,)`` evaluated sample indices.
    pearson, nrmse
        ``(K,)`` similarity of predicted and actual volume inside the ROI.
    correspondence_ms, warp_ms
        ``(K,)`` time to build the predicted field / to warp the reference volume, ms.
    field_error_mm
        ``(K,)`` mean over ROI voxels of ``|u_predicted - u_true|``, mm.
    """

    indices: np.ndarray
    pearson: np.ndarray
    nrmse: np.ndarray
    correspondence_ms: np.ndarray
    warp_ms: np.ndarray
    field_error_mm: np.ndarray

    def summary(self) -> dict[str, float]:
        """Means of the similarity metrics and medians of the times."""
        return {
            "pearson_mean": float(np.mean(self.pearson)),
            "pearson_min": float(np.min(self.pearson)),
            "nrmse_mean": float(np.mean(self.nrmse)),
            "field_error_mm": float(np.mean(self.field_error_mm)),
            "correspondence_ms": float(np.median(self.correspondence_ms)),
            "warp_ms": float(np.median(self.warp_ms)),
        }


def predict_volume(reference: np.ndarray, model: CorrespondenceModel, surrogate: np.ndarray,
                   spacing: tuple[float, ...], *,
                   sigma_px: float = 0.5) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Predicted volume for one (forecast) surrogate vector.

    Returns
    -------
    (volume, field_mm, correspondence_ms, warp_ms)
        ``(D, H, W)`` predicted volume, ``(D, H, W, 3)`` predicted field in mm, and the times of
        the two steps in ms.
    """
    t0 = time.perf_counter()
    u = model.predict(np.asarray(surrogate, dtype=np.float64).ravel())
    t1 = time.perf_counter()
    vol = np.asarray(warp_forward(reference, u / np.asarray(spacing, dtype=np.float32),
                                  sigma=sigma_px))
    t2 = time.perf_counter()
    return vol, u, (t1 - t0) * 1e3, (t2 - t1) * 1e3


def evaluate_volumes(series: BreathingSeries, model: CorrespondenceModel,
                     predicted_surrogate: np.ndarray, indices: Sequence[int] | np.ndarray,
                     roi_mask: np.ndarray, *,
                     actual_cache: dict[int, np.ndarray] | None = None,
                     predicted_out: dict[int, np.ndarray] | None = None) -> VolumeForecast:
    """Compare predicted and actual volumes of the series at ``indices``.

    Parameters
    ----------
    series
        The breathing series (actual volume of sample ``k`` = ``series.volume(k)``).
    model
        A fitted correspondence model.
    predicted_surrogate
        ``(T, p)`` forecast surrogate aligned to the sample it is for.
    indices
        ``(n,)`` integer samples to evaluate (each must have a forecast).
    roi_mask
        ``(D, H, W)`` bool tumour ROI for the metrics.
    actual_cache
        Optional ``{sample: actual volume}`` dictionary, read and filled (several methods scored
        on the same samples warp each actual volume once).
    predicted_out
        Optional dictionary filled with ``{sample: predicted volume}``.
    """
    idx = np.asarray(indices, dtype=int)
    sur = np.asarray(predicted_surrogate, dtype=np.float64).reshape(series.n_samples, -1)
    if not np.all(np.isfinite(sur[idx])):
        raise ValidationError("some evaluated samples have no forecast (inside the horizon)")
    mask = np.asarray(roi_mask, dtype=bool)
    out = {k: np.zeros(len(idx)) for k in ("p", "n", "c", "w", "f")}
    for j, k in enumerate(idx):
        vol, u, c_ms, w_ms = predict_volume(series.reference, model, sur[k], series.spacing)
        true_u = series.field(k)
        if actual_cache is not None and int(k) in actual_cache:
            actual = actual_cache[int(k)]
        else:
            actual = series.volume(k)
            if actual_cache is not None:
                actual_cache[int(k)] = actual
        if predicted_out is not None:
            predicted_out[int(k)] = vol
        m = volume_metrics(vol, actual, mask)
        out["p"][j], out["n"][j] = m["pearson"], m["nrmse"]
        out["c"][j], out["w"][j] = c_ms, w_ms
        out["f"][j] = float(np.linalg.norm(u[mask] - true_u[mask], axis=-1).mean())
    return VolumeForecast(indices=idx, pearson=out["p"], nrmse=out["n"],
                          correspondence_ms=out["c"], warp_ms=out["w"], field_error_mm=out["f"])


@dataclass
class Ct4dRun:
    """One method at one horizon: point forecasts and (optionally) predicted volumes.

    Attributes
    ----------
    forecast
        Forecast of the point coordinates (or the surrogate).
    points
        Point errors on the test samples (``None`` for a non-point surrogate).
    volumes
        Volume comparison on the evaluated samples (``None`` when not asked for).
    """

    forecast: SeriesForecast
    points: dict[str, float] | None
    volumes: VolumeForecast | None

    def row(self) -> dict[str, Any]:
        """One flat table row: method, horizon, point errors, volume metrics, step times."""
        f = self.forecast
        row: dict[str, Any] = {"method": f.method, "mode": f.mode, "horizon_s": f.horizon_s,
                               "horizon_steps": f.horizon_steps,
                               "forecast_ms": float(np.median(f.step_ms[f.test]))}
        if self.points is not None:
            row.update(self.points)
        if self.volumes is not None:
            row.update(self.volumes.summary())
        return row


def run_ct4d(series: BreathingSeries, surrogate: np.ndarray, model: CorrespondenceModel | None,
             *, method: str, horizon_s: float, train_samples: int, roi_mask: np.ndarray | None,
             volume_samples: int = 0, params: Mapping[str, Any] | None = None,
             mode: Mode = "causal", seed: int = 0, points: bool = True,
             round_horizon: bool = False,
             actual_cache: dict[int, np.ndarray] | None = None,
             predicted_out: dict[int, np.ndarray] | None = None,
             test_start: int | None = None) -> Ct4dRun:
    """Forecast a surrogate of a breathing series and rebuild predicted volumes.

    Parameters
    ----------
    series
        Breathing series cycled through the 4DCT phases.
    surrogate
        ``(T, p)`` surrogate series: tracked point coordinates (``(T, N, 3)`` accepted) or an
        external signal.
    model
        Correspondence model fitted on training pairs with the same surrogate (``None``: points
        only).
    method, horizon_s, train_samples, params, mode, seed, round_horizon
        As in :func:`forecast_series`.
    roi_mask
        Tumour ROI for the volume metrics.
    volume_samples
        Number of test samples (evenly spread) whose volumes are predicted and compared (each
        costs two 3D warps); 0 skips the volumes.
    points
        Compute point errors (the surrogate is a set of 3D points).
    actual_cache, predicted_out
        Cache of actual volumes and output of predicted ones, see :func:`evaluate_volumes`.
    test_start
        First test sample (default ``train_samples``): point errors and volumes are scored from
        there on.
    """
    y = np.asarray(surrogate, dtype=np.float64).reshape(series.n_samples, -1)
    fc = forecast_series(y, series.frame_period_s, method=method, horizon_s=horizon_s,
                         train_samples=train_samples, params=params, mode=mode, seed=seed,
                         round_horizon=round_horizon, test_start=test_start)
    errs = fc.point_errors() if points else None
    vols = None
    if model is not None and volume_samples > 0:
        if roi_mask is None:
            raise ConfigurationError("volume metrics need a tumour ROI mask")
        first = max(fc.test.start, fc.horizon_steps)
        idx = np.unique(np.linspace(first, series.n_samples - 1, int(volume_samples))
                        .round().astype(int))
        vols = evaluate_volumes(series, model, fc.predicted, idx, roi_mask,
                                actual_cache=actual_cache, predicted_out=predicted_out)
    return Ct4dRun(forecast=fc, points=errs, volumes=vols)
