"""``motionpredict predict`` on a 4DCT: what the command-line branch for 3D phase data calls.

The phases' frame period (``--frame-period``: breathing period / number of phases, s) sets both the
sampling rate of the breathing series (one volume per frame period) and its mean breathing period
(``n_phases * frame_period``); with 10 phases at 0.4 s this is the reference set-up (2.5 Hz, 4 s).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from motionpredict.ct4d.experiment import prepare_ct4d
from motionpredict.ct4d.pipeline import roi_mask_xyz, run_ct4d
from motionpredict.errors import ConfigurationError
from motionpredict.forecasters import Mode, guard_summary
from motionpredict.io import atomic_path, write_image
from motionpredict.phantom.records import to_jsonable
from motionpredict.sequences import ImageSequence, Provenance


def is_ct4d(data: object, meta: Mapping[str, Any] | None) -> TypeGuard[ImageSequence]:
    """True for 3D phase volumes of a 4DCT: a ``sequence.json`` or dataset card of kind
    ``ct4d-phases``, or a phantom 4DCT (``make_ct4d`` output).

    Only an :class:`ImageSequence` of volumes qualifies (marker trajectories never do, whatever
    the metadata says), so a true result narrows ``data`` to :class:`ImageSequence`."""
    if not isinstance(data, ImageSequence) or data.ndim != 3:
        return False
    if (meta or {}).get("kind") == "ct4d-phases":
        return True
    extra = data.provenance.extra
    card = extra.get("dataset_card")
    if isinstance(card, str):
        from motionpredict.cards import available_cards

        found = available_cards().get(card)
        if found is not None and found.kind == "ct4d-phases":
            return True
    return extra.get("kind") == "ct4d"


def predict_4dct(data: ImageSequence, meta: Mapping[str, Any] | None, out: Path, *,
                 method: str, horizon_s: float, mode: Mode = "causal", seed: int = 0,
                 params: Mapping[str, Any] | None = None, round_horizon: bool = False,
                 backend: str = "numpy", duration_s: float = 300.0,
                 train_fraction: float = 1.0 / 3.0, correspondence: str = "nw",
                 volume_samples: int = 5) -> list[Path]:
    """Forecast internal points of a 4DCT and write predicted volumes, positions and metrics.

    Parameters
    ----------
    data
        The phases (``(n, D, H, W)``, spacing and frame period known).
    meta
        The sequence's ``sequence.json`` (ROI, reference LK parameters), or ``None``.
    out
        Output folder (created).
    method, horizon_s, mode, seed, params, round_horizon
        Forecaster settings, as for ``predict``.
    backend
        Registration back-end.
    duration_s
        Length of the breathing series, s.
    train_fraction
        Fraction of the series used as training window.
    correspondence
        ``"nw"`` (Nadaraya-Watson) or ``"linear"``.
    volume_samples
        Test samples whose predicted volumes are written and scored.

    Returns
    -------
    list of Path
        Written files: ``positions.csv``, ``predicted_volumes.mha``, ``actual_volumes.mha``,
        ``metrics.json``.
    """
    meta = dict(meta or {})
    roi = (roi_mask_xyz(meta["roi"], data.shape) if isinstance(meta.get("roi"), dict)
           else None)
    if roi is None:
        raise ConfigurationError(
            f"{data.provenance.source}: a 4DCT prediction needs the tumour ROI (a sequence.json "
            "'roi' with 1-based x, y, z ranges)"
        )
    period = data.frame_period
    if not np.isfinite(period):
        raise ConfigurationError(f"{data.provenance.source}: the frame period is unknown")
    setup = prepare_ct4d(data, roi, lk_params=meta.get("reference_lk_parameters"),
                         backend=backend, seed=seed, rate_hz=1.0 / period,
                         mean_period_s=data.n_frames * period, duration_s=duration_s)
    series = setup.series
    train = max(2, round(train_fraction * series.n_samples))
    model = setup.correspondence(correspondence, train_samples=train)
    actual: dict[int, np.ndarray] = {}
    predicted: dict[int, np.ndarray] = {}
    run = run_ct4d(series, setup.trajectories.positions, model, method=method,
                   horizon_s=horizon_s, train_samples=train, roi_mask=roi,
                   volume_samples=volume_samples, params=params, mode=mode, seed=seed,
                   round_horizon=round_horizon, actual_cache=actual, predicted_out=predicted)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    fc = run.forecast
    n_pts = setup.points_mm.shape[0]
    header = ["sample", "time_s", "issued_at_sample"]
    coords = [f"p{j}_{a}" for j in range(n_pts) for a in ("slice", "row", "col")]
    header += [f"{c}_acquired_mm" for c in coords] + [f"{c}_predicted_mm" for c in coords]
    path = out / "positions.csv"
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for k in range(fc.train_samples, series.n_samples):
            w.writerow([k, f"{series.times[k]:.6f}", k - fc.horizon_steps,
                        *map(float, fc.true[k]), *map(float, fc.predicted[k])])
    written.append(path)
    assert run.volumes is not None
    idx = run.volumes.indices

    for name, cache in (("predicted_volumes.mha", predicted), ("actual_volumes.mha", actual)):
        vols = np.stack([cache[int(k)] for k in idx])
        seq = ImageSequence(frames=vols, spacing=data.spacing, times=series.times[idx],
                            provenance=Provenance(source=f"motionpredict predict {method} "
                                                         f"h={fc.horizon_s:g}s {mode}"))
        written.append(write_image(seq, out / name))
    summary = {
        "kind": "ct4d", "method": method, "mode": mode, "horizon_s": fc.horizon_s,
        "horizon_steps": fc.horizon_steps, "train_samples": train,
        "correspondence": {"model": model.name, "chosen": model.chosen_,
                           "loo_cv_error_mm": model.cv_error_mm_},
        "points_mm": setup.points_mm, "point_metrics": run.points,
        "volume_metrics": run.volumes.summary(), "volume_samples": idx,
        "registration_s": setup.registration_s, "series": series.params.to_dict(),
        "forecast_ms_median": float(np.median(fc.step_ms[fc.test])),
        "divergence_resets": len(fc.events),
        **guard_summary(fc.guarded[fc.test]),
    }
    path = out / "metrics.json"
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(to_jsonable(summary), indent=2) + "\n")
    written.append(path)
    return written
