"""Error metrics of predicted displacement fields, predicted frames and predicted marker positions.

Definitions (``T`` frames or samples of one evaluation window):

* geometric (DVF) error of frame ``t``: ``e_t(x) = |u_t(x) - û_t(x)|`` (Euclidean norm, mm) vs
  the Lucas-Kanade field ``u_t`` (the published criterion) or the phantom's true field; its mean
  over the pixels of the whole image or an ROI, and its maximum;
* image nRMSE: ``sqrt(sum (Î - I)^2 / sum (I - mean I)^2)`` over all pixels of all frames of the
  window (``nrmse``, pooled), and the published definition, the mean over the frames of each
  frame's nRMSE (``nrmse_frames``; the mean is taken over each frame's own pixels);
* SSIM (Wang et al. 2004) with an 11x11 Gaussian window of sigma 1.5 px, K1 = 0.01, K2 = 0.03,
  as MATLAB's ``ssim`` and the published numbers; the data range is 255 (to compare with the papers)
  or the true range of the data;
* Pearson correlation of predicted and acquired intensities, per frame;
* markers: with ``e_{t,i} = ||p̂_{t,i} - p_{t,i}||`` (3D Euclidean, mm), MAE = mean e, RMSE =
  sqrt(mean e^2), nRMSE = sqrt(sum e^2 / sum ||p - mean p||^2), max error = max e, jitter =
  mean over ``t, i`` of ``||p̂_{t+1,i} - p̂_{t,i}||`` (mm per sample).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import ndimage

from motionpredict.errors import ValidationError


def _same_shape(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.shape != b.shape:
        raise ValidationError(f"{what}: shapes differ, {a.shape} vs {b.shape}")


def dvf_error_mm(
    predicted: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame mean and max geometric error between two field series.

    Parameters
    ----------
    predicted, reference
        ``(T, *spatial, ndim)`` displacement fields in mm (or one field ``(*spatial, ndim)``).
    mask
        Boolean ``spatial`` mask (ROI); ``None`` uses every pixel.

    Returns
    -------
    mean_mm, max_mm
        ``(T,)`` mean and maximum of ``|u - û|`` (mm) over the mask.
    """
    p = np.asarray(predicted, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    _same_shape(p, r, "dvf_error_mm")
    nd = p.shape[-1]
    if p.ndim == nd + 1:
        p, r = p[None], r[None]
    err = np.sqrt(np.sum((p - r) ** 2, axis=-1))  # (T, *spatial)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != err.shape[1:]:
            raise ValidationError(f"ROI mask shape {mask.shape} != field grid {err.shape[1:]}")
        if not mask.any():
            raise ValidationError("ROI mask is empty")
        err = err[:, mask]
    else:
        err = err.reshape(err.shape[0], -1)
    return err.mean(axis=1), err.max(axis=1)


def nrmse(predicted: np.ndarray, true: np.ndarray) -> float:
    """Normalised RMSE ``sqrt(sum (p - y)^2 / sum (y - mean y)^2)`` over every value (unitless)."""
    p = np.asarray(predicted, dtype=np.float64)
    y = np.asarray(true, dtype=np.float64)
    _same_shape(p, y, "nrmse")
    den = np.sum((y - y.mean()) ** 2)
    if den <= 0:
        raise ValidationError("nrmse: the true values are constant, nRMSE is undefined")
    return float(np.sqrt(np.sum((p - y) ** 2) / den))


def ssim(
    predicted: np.ndarray,
    true: np.ndarray,
    *,
    data_range: float,
    sigma: float = 1.5,
    truncate: float = 3.5,
) -> float:
    """Mean structural similarity of one 2D frame or 3D volume.

    Gaussian-weighted statistics (``sigma`` px, window radius ``truncate * sigma``, i.e. 11x11 for
    the defaults), population covariance, K1 = 0.01 and K2 = 0.03, the mean over the pixels whose
    window lies inside the image, as MATLAB ``ssim`` and ``skimage`` with ``gaussian_weights=True``.

    Parameters
    ----------
    predicted, true
        Images of the same shape.
    data_range
        Dynamic range L of the intensities (255 for the published numbers, or ``max - min`` of the
        data's true range).
    """
    x = np.asarray(predicted, dtype=np.float64)
    y = np.asarray(true, dtype=np.float64)
    _same_shape(x, y, "ssim")
    if not data_range > 0:
        raise ValidationError(f"ssim: data_range must be > 0, got {data_range}")
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2

    def filt(a: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(a, sigma=sigma, truncate=truncate, mode="reflect")

    mx, my = filt(x), filt(y)
    vx = filt(x * x) - mx * mx
    vy = filt(y * y) - my * my
    cxy = filt(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    pad = int(truncate * sigma + 0.5)
    inner = tuple(slice(pad, n - pad) if n > 2 * pad else slice(None) for n in s.shape)
    return float(s[inner].mean())


def pearson(predicted: np.ndarray, true: np.ndarray) -> float:
    """Pearson correlation coefficient of the intensities of two images (unitless)."""
    p = np.asarray(predicted, dtype=np.float64).ravel()
    y = np.asarray(true, dtype=np.float64).ravel()
    _same_shape(p, y, "pearson")
    ps, ys = p - p.mean(), y - y.mean()
    den = np.sqrt(np.sum(ps**2) * np.sum(ys**2))
    if den <= 0:
        return float("nan")
    return float(np.sum(ps * ys) / den)


def image_metrics(
    predicted: np.ndarray,
    acquired: np.ndarray,
    *,
    true_range: float,
    mask: np.ndarray | None = None,
) -> dict[str, float]:
    """Image metrics of a window of predicted frames against the acquired frames.

    Parameters
    ----------
    predicted, acquired
        ``(T, *spatial)`` intensities.
    true_range
        The data's true dynamic range (e.g. ``raw_range`` of the provenance, else ``max - min``).
    mask
        Optional ROI; nRMSE and Pearson are then computed inside it (SSIM needs whole images and
        is computed on the bounding box of the ROI).

    Returns
    -------
    dict
        ``nrmse``, ``nrmse_frames``, ``ssim_255``, ``ssim_true_range``, ``pearson`` (means over
        frames for SSIM, Pearson and ``nrmse_frames``, the published definition; ``nrmse``
        pooled over the window). A frame with constant acquired intensities has no nRMSE and is
        left out of ``nrmse_frames`` (NaN when every frame is constant).
    """
    p = np.asarray(predicted, dtype=np.float64)
    a = np.asarray(acquired, dtype=np.float64)
    _same_shape(p, a, "image_metrics")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != p.shape[1:]:
            raise ValidationError(f"ROI mask shape {mask.shape} != frame shape {p.shape[1:]}")
        idx = np.nonzero(mask)
        box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in idx)
        pb = p[(slice(None), *box)]
        ab = a[(slice(None), *box)]
        pv, av = p[:, mask], a[:, mask]
    else:
        pb, ab, pv, av = p, a, p, a
    per_frame = [nrmse(x, y) for x, y in zip(pv, av, strict=True) if np.ptp(y) > 0]
    return {
        "nrmse": nrmse(pv, av),
        "nrmse_frames": float(np.mean(per_frame)) if per_frame else float("nan"),
        "ssim_255": float(
            np.mean([ssim(x, y, data_range=255.0) for x, y in zip(pb, ab, strict=True)])
        ),
        "ssim_true_range": float(
            np.mean([ssim(x, y, data_range=true_range) for x, y in zip(pb, ab, strict=True)])
        ),
        "pearson": float(np.nanmean([pearson(x, y) for x, y in zip(pv, av, strict=True)])),
    }


def field_metrics(
    predicted: np.ndarray,
    reference: np.ndarray,
    *,
    roi: np.ndarray | None = None,
    prefix: str = "dvf",
) -> dict[str, float]:
    """Mean and max geometric error over a window, whole image and ROI (mm).

    Returns keys ``{prefix}_mean_mm``, ``{prefix}_max_mm`` and, with an ROI,
    ``{prefix}_roi_mean_mm``, ``{prefix}_roi_max_mm``: the mean over frames of the per-frame mean,
    and the largest per-frame max.
    """
    mean, mx = dvf_error_mm(predicted, reference)
    out = {f"{prefix}_mean_mm": float(mean.mean()), f"{prefix}_max_mm": float(mx.max())}
    if roi is not None:
        rmean, rmx = dvf_error_mm(predicted, reference, roi)
        out[f"{prefix}_roi_mean_mm"] = float(rmean.mean())
        out[f"{prefix}_roi_max_mm"] = float(rmx.max())
    return out


def marker_metrics(predicted: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Errors of predicted 3D point positions.

    Parameters
    ----------
    predicted, true
        ``(T, N, 3)`` positions in mm (``(T, 3N)`` point-major also accepted).

    Returns
    -------
    dict
        ``mae_mm``, ``rmse_mm``, ``nrmse``, ``max_mm``, ``jitter_mm`` (see the module docstring).
    """
    p = np.asarray(predicted, dtype=np.float64)
    y = np.asarray(true, dtype=np.float64)
    _same_shape(p, y, "marker_metrics")
    if p.ndim == 2:
        if p.shape[1] % 3:
            raise ValidationError(f"marker series must have 3N columns, got {p.shape[1]}")
        p = p.reshape(p.shape[0], -1, 3)
        y = y.reshape(y.shape[0], -1, 3)
    if p.ndim != 3 or p.shape[2] != 3 or p.shape[0] < 2:
        raise ValidationError(f"marker positions must be (T>=2, N, 3), got {p.shape}")
    e = np.linalg.norm(p - y, axis=2)  # (T, N)
    den = np.sum((y - y.mean(axis=0)) ** 2)
    return {
        "mae_mm": float(e.mean()),
        "rmse_mm": float(np.sqrt(np.mean(e**2))),
        "nrmse": float(np.sqrt(np.sum(e**2) / den)) if den > 0 else float("nan"),
        "max_mm": float(e.max()),
        "jitter_mm": float(np.linalg.norm(np.diff(p, axis=0), axis=2).mean()),
    }


def stage_summary(stage_ms: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Median and 99th percentile of per-frame stage times.

    Parameters
    ----------
    stage_ms
        ``{stage: (T,) times in ms}``; a ``"total"`` entry is added as the per-frame sum.

    Returns
    -------
    dict
        ``{"<stage>_median_ms": ..., "<stage>_p99_ms": ...}`` including ``total``.
    """
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in stage_ms.items()}
    if arrays:
        arrays["total"] = np.sum(np.stack(list(arrays.values())), axis=0)
    out: dict[str, float] = {}
    for k, v in arrays.items():
        if v.size:
            out[f"{k}_median_ms"] = float(np.median(v))
            out[f"{k}_p99_ms"] = float(np.percentile(v, 99))
    return out
