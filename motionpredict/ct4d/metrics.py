"""Metrics of 4DCT predictions: internal-point errors (mm) and predicted-volume similarity.

Point errors (``predicted``, ``true``: ``(T, N, 3)`` mm, test samples only), with
``e_{t,j} = |p_hat_{t,j} - p_{t,j}|``:

* RMSE ``sqrt(mean_{t,j} e^2)`` (mm); max ``max_{t,j} e`` (mm);
* jitter ``mean_{t,j} |p_hat_{t+1,j} - p_hat_{t,j}|`` (mm): how much the prediction moves from
  one sample to the next (the true motion's own value is reported alongside as ``true_jitter_mm``).

Volume similarity inside the tumour ROI (voxels of a bool mask): Pearson correlation of the
intensities and nRMSE ``sqrt(sum (I_hat - I)^2 / sum (I - mean I)^2)`` (unitless).
"""

from __future__ import annotations

import numpy as np

from motionpredict.errors import ValidationError
from motionpredict.metrics import marker_metrics, nrmse, pearson


def point_errors(predicted: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """RMSE, max error and jitter (mm) of predicted point positions.

    Parameters
    ----------
    predicted, true
        ``(T, N, 3)`` positions in mm over the evaluated samples (no NaN).

    Returns
    -------
    dict
        ``rmse_mm``, ``max_mm``, ``mae_mm``, ``jitter_mm``, ``true_jitter_mm``.
    """
    p = np.asarray(predicted, dtype=np.float64)
    y = np.asarray(true, dtype=np.float64)
    if p.shape != y.shape:
        raise ValidationError(f"point_errors: shapes differ, {p.shape} vs {y.shape}")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(y))):
        raise ValidationError("point_errors: positions contain NaN or Inf (untested samples?)")
    m = marker_metrics(p, y)
    return {
        "rmse_mm": m["rmse_mm"],
        "max_mm": m["max_mm"],
        "mae_mm": m["mae_mm"],
        "jitter_mm": m["jitter_mm"],
        "true_jitter_mm": float(np.linalg.norm(np.diff(y, axis=0), axis=2).mean()),
    }


def volume_metrics(predicted: np.ndarray, true: np.ndarray,
                   mask: np.ndarray | None = None) -> dict[str, float]:
    """Pearson correlation and nRMSE of a predicted volume against the actual one in an ROI.

    Parameters
    ----------
    predicted, true
        ``(D, H, W)`` volumes on the same grid.
    mask
        ``(D, H, W)`` bool ROI (default: the whole volume).

    Returns
    -------
    dict
        ``pearson`` and ``nrmse`` (unitless).
    """
    p = np.asarray(predicted, dtype=np.float64)
    y = np.asarray(true, dtype=np.float64)
    if p.shape != y.shape:
        raise ValidationError(f"volume_metrics: shapes differ, {p.shape} vs {y.shape}")
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != p.shape or not m.any():
            raise ValidationError(f"volume_metrics: mask must be a non-empty {p.shape} bool array")
        p, y = p[m], y[m]
    return {"pearson": pearson(p, y), "nrmse": nrmse(p, y)}
