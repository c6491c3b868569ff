"""Batch evaluation: sequences x methods x horizons x modes x seeds, locally or on Dask.

Jobs run through joblib worker processes on this machine (``jobs`` of them, with a progress bar
and ETA), or on an existing ``dask.distributed`` scheduler when an address is given: the same job
function runs there unchanged. The main process stores every finished job in the run's SQLite
store at once, so ``resume=True`` recomputes only what is missing after any interruption.
Registration fields and PCA fits are cached on disk by content hash in ``RUN/cache`` (or the
configuration's ``[run] cache`` folder, which several runs may share), so every job of a
sequence, and a later run of the same sequence, skips them; predicted-frame triplets for the
report go to ``RUN/artifacts``.

4DCT phases (a ``ct4d-phases`` sidecar or card, or ``phantom = "ct4d"``) are jobs of kind
``ct4d``: the phases are registered once (same cache), then :func:`motionpredict.ct4d.prepare_ct4d`
picks internal points and builds the breathing-length series once per sequence and process; each
job forecasts the points (grid search on a validation window of the series) and rebuilds predicted
volumes through a Nadaraya-Watson correspondence model (docs/ct4d.md, docs/evaluation.md).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from motionpredict.errors import ConfigurationError, MotionPredictError
from motionpredict.evaluation.cache import ArrayCache, content_hash
from motionpredict.evaluation.config import JOB_FIELDS, EvalConfig
from motionpredict.evaluation.grids import method_grid, n_components_for
from motionpredict.evaluation.protocol import (
    CineData,
    Splits,
    default_splits,
    evaluate_cine,
    evaluate_markers,
    fit_pca,
    horizons_from_sidecar,
    read_sidecar,
    register_all,
    roi_from_sidecar,
    scored_window,
    splits_from_one_based,
    splits_from_sidecar,
    steps_for,
)
from motionpredict.evaluation.store import ResultStore, check_same_config, config_fingerprint
from motionpredict.forecasters import guard_summary
from motionpredict.sequences import ImageSequence, PointTrajectories


@dataclass
class LoadedSequence:
    """A sequence with everything the protocol needs to know about it."""

    name: str
    data: ImageSequence | PointTrajectories
    splits: Splits
    horizons_s: list[float] | None
    roi: np.ndarray | None
    true_fields_mm: np.ndarray | None
    lk_reference: dict[str, Any] | None
    provenance: dict[str, Any]
    ct4d: dict[str, float] | None = None
    n_components: Any = None  # the sidecar's PCA size(s), if it states any

    @property
    def period_s(self) -> float:
        """Frame (sample) period in s (for 4DCT: of the breathing series, ``1 / rate_hz``)."""
        if self.ct4d is not None:
            return 1.0 / self.ct4d["rate_hz"]
        d = self.data
        return d.frame_period if isinstance(d, ImageSequence) else d.sample_period

    @property
    def n(self) -> int:
        """Number of frames (samples; for 4DCT: of the breathing series)."""
        if self.ct4d is not None:
            return int(np.floor(self.ct4d["duration_s"] * self.ct4d["rate_hz"] + 1e-9))
        d = self.data
        return d.n_frames if isinstance(d, ImageSequence) else d.n_samples

    @property
    def kind(self) -> str:
        """Job kind: ``markers``, ``image-2d``, ``image-3d`` or ``ct4d``."""
        if self.ct4d is not None:
            return "ct4d"
        d = self.data
        return "markers" if isinstance(d, PointTrajectories) else f"image-{d.ndim}d"


def expand_sequences(specs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replace a folder of sequence folders (each with a ``sequence.json``) by one entry each."""
    out: list[dict[str, Any]] = []
    for s in specs:
        p = Path(s["path"]) if "path" in s else None
        if p is not None and p.is_dir() and read_sidecar(p) is None:
            subs = sorted(d for d in p.iterdir() if d.is_dir() and (d / "sequence.json").is_file())
            if subs:
                out.extend({**s, "path": str(d)} for d in subs)
                continue
        out.append(dict(s))
    return out


_LOADED: dict[str, LoadedSequence] = {}


def load_sequence(spec: dict[str, Any]) -> LoadedSequence:
    """Load (or build, for a phantom) the sequence a spec describes; memoised per process."""
    key = content_hash("seq", spec)
    if key in _LOADED:
        return _LOADED[key]
    true_fields = None
    roi = None
    meta: dict[str, Any] = {}
    kw: dict[str, Any]
    data: ImageSequence | PointTrajectories
    if "phantom" in spec:
        from motionpredict import phantom as ph

        kind = spec["phantom"]
        seed = int(spec.get("seed", 0))
        p: ph.PhantomCine | ph.PhantomCT | ph.PhantomMarkers
        if kind == "cine":
            kw = {k: spec[k] for k in ("n_frames", "frame_period_s") if k in spec}
            if "shape" in spec:
                kw["shape"] = tuple(spec["shape"])
            if "spacing_mm" in spec:
                kw["spacing_mm"] = tuple(spec["spacing_mm"])
            p = ph.make_cine(seed=seed, **kw)
        elif kind == "ct4d":
            kw = {k: spec[k] for k in ("n_phases",) if k in spec}
            if "n_frames" in spec:  # the config's name for the number of phases
                kw["n_phases"] = int(spec["n_frames"])
            if "shape" in spec:
                kw["shape"] = tuple(spec["shape"])
            if "spacing_mm" in spec:
                kw["spacing_mm"] = tuple(spec["spacing_mm"])
            p = ph.make_ct4d(seed=seed, **kw)
        else:
            kw = {k: spec[k] for k in ("duration_s", "rate_hz") if k in spec}
            p = ph.make_markers(seed=seed, **kw)
        data = p.sequence
        if not isinstance(p, ph.PhantomMarkers):
            true_fields = np.asarray(p.true_fields.fields, dtype=np.float32)
            roi = np.asarray(p.tumour_mask, dtype=bool)
        name = spec.get("name") or f"phantom-{kind}-{seed}"
        prov = {"source": f"phantom {kind} seed {seed}", "kind": kind}
    else:
        from motionpredict.io import load

        path = Path(spec["path"])
        kw = {}
        if "frame_period_s" in spec:
            kw["frame_period_s"] = float(spec["frame_period_s"])
        if "spacing_mm" in spec:
            kw["spacing_mm"] = tuple(float(s) for s in spec["spacing_mm"])
        if "dataset" in spec:
            kw["dataset"] = spec["dataset"]
        meta = read_sidecar(path) or {}
        if path.suffix.lower() == ".mat":  # published org_data marker series (3.33/10/30 Hz)
            from motionpredict.evaluation.markers_mat import read_org_data_mat

            names = meta.get("markers")
            data = read_org_data_mat(path, frame_period_s=spec.get("frame_period_s"),
                                     names=names if isinstance(names, list) else None)
        else:
            data = load(path, **kw)
        name = spec.get("name") or meta.get("name") or path.stem
        pv = data.provenance
        prov = {"source": path.name, "dataset": meta.get("dataset"),
                "frame_period_source": pv.frame_period_source,
                "spacing_source": getattr(pv, "spacing_source", None),
                "citation": meta.get("citation"), "licence": meta.get("licence")}
        if isinstance(data, ImageSequence):
            roi = roi_from_sidecar(meta, data.shape)
    if "roi" in spec:
        if not isinstance(data, ImageSequence):
            raise ConfigurationError(f"sequence {name}: marker trajectories have no image for a "
                                     "'roi'; remove it from the configuration")
        roi = roi_from_sidecar({"roi": spec["roi"]}, data.shape)
    from motionpredict.ct4d.command import is_ct4d

    if is_ct4d(data, meta):
        assert isinstance(data, ImageSequence)
        loaded = _load_ct4d(spec, data, meta, roi, true_fields, str(name), prov)
        _remember(key, loaded)
        return loaded
    n = data.n_frames if isinstance(data, ImageSequence) else data.n_samples
    period = data.frame_period if isinstance(data, ImageSequence) else data.sample_period
    if "splits" in spec:
        splits = splits_from_one_based(spec["splits"], n, "config")
    else:
        splits = splits_from_sidecar(meta, n, sample_period_s=period) or default_splits(n)
    horizons = spec.get("horizons_s") or horizons_from_sidecar(meta, period)
    loaded = LoadedSequence(
        name=str(name), data=data, splits=splits,
        horizons_s=[float(h) for h in horizons] if horizons else None, roi=roi,
        true_fields_mm=true_fields, lk_reference=meta.get("reference_lk_parameters"),
        provenance=prov, n_components=meta.get("n_components"))
    _remember(key, loaded)
    return loaded


def _remember(key: str, loaded: LoadedSequence) -> None:
    if len(_LOADED) > 8:
        _LOADED.clear()
    _LOADED[key] = loaded


def _load_ct4d(spec: dict[str, Any], data: ImageSequence, meta: dict[str, Any],
               roi: np.ndarray | None, true_fields: np.ndarray | None, name: str,
               prov: dict[str, Any]) -> LoadedSequence:
    """A 4DCT: splits and horizons refer to the breathing series built from its phases.

    The series runs at ``rate_hz`` (default one sample per phase period, ``1 / frame_period``)
    for ``duration_s`` (default 300 s) with a mean breathing period of ``n_phases x
    frame_period``. Default splits: training = first third, validation to 160/300 of the series,
    test = the rest (the windows of ``benchmarks/ct4d.py``).
    """
    where = f"sequence {name}"
    if roi is None:
        raise ConfigurationError(f"{where}: a 4DCT evaluation needs the tumour ROI (a "
                                 "sequence.json 'roi' or 'roi' in the configuration)")
    period = data.frame_period
    if not np.isfinite(period) or period <= 0:
        raise ConfigurationError(f"{where}: the phases' frame period is unknown; set "
                                 "frame_period_s (breathing period / number of phases, s)")
    rate = float(spec.get("rate_hz", 1.0 / period))
    duration = float(spec.get("duration_s", 300.0))
    opts = {"rate_hz": rate, "duration_s": duration,
            "mean_period_s": data.n_frames * period, "seed": float(spec.get("seed", 0))}
    n = int(np.floor(duration * rate + 1e-9))
    if "splits" in spec:
        splits = splits_from_one_based(spec["splits"], n, "config (breathing-series samples)")
    else:
        a, b = max(2, round(n / 3)), round(n * 160 / 300)
        splits = Splits((0, a), (a, max(a + 1, b)), (max(a + 1, b), n), a,
                        "default 4DCT series: train 1/3, validation to 53 %, test the rest")
        splits.check(n, where)
    horizons = spec.get("horizons_s") or horizons_from_sidecar(meta, 1.0 / rate)
    prov = {**prov, "series": dict(opts)}
    return LoadedSequence(
        name=name, data=data, splits=splits,
        horizons_s=[float(h) for h in horizons] if horizons else None, roi=roi,
        true_fields_mm=true_fields, lk_reference=meta.get("reference_lk_parameters"),
        provenance=prov, ct4d=opts)


def build_jobs(cfg: EvalConfig, run_dir: Path,
               failures: list[tuple[dict[str, Any], str]] | None = None) -> list[dict[str, Any]]:
    """Expand a configuration into job specifications (JSON-able dicts with a ``key``).

    A sequence that cannot be loaded raises its error, or, when ``failures`` is a list, is
    recorded there as ``(spec, message)`` and skipped.
    """
    jobs = []
    keys: set[str] = set()
    for spec in expand_sequences(cfg.sequences):
        try:
            seq = load_sequence(spec)
        except MotionPredictError as exc:
            if failures is None:
                raise
            failures.append((spec, f"{type(exc).__name__}: {exc}"))
            continue
        if cfg.horizons_steps is not None:
            horizons = [k * seq.period_s for k in cfg.horizons_steps]
        elif cfg.horizons_s is not None:
            horizons = list(cfg.horizons_s)
        elif seq.horizons_s is not None:
            horizons = seq.horizons_s
        else:
            raise ConfigurationError(
                f"sequence {seq.name}: no horizons in its sidecar; set horizons_s in [evaluation]")
        lk = dict(seq.lk_reference or {})
        lk.update(cfg.lk)
        n_components = n_components_for(cfg.grid, cfg.n_components, seq.n_components)
        for h_s in horizons:
            try:
                steps = steps_for(h_s, seq.period_s, cfg.round_horizons)
            except ConfigurationError as exc:
                raise ConfigurationError(f"sequence {seq.name}: {exc}") from None
            check_horizon_fits(seq, steps, cfg.source)
            # Jobs are labelled by the horizon used, steps x period (docs/evaluation.md).
            actual_s = round(steps * seq.period_s, 9)
            for method in cfg.methods:
                for mode in cfg.modes:
                    for i, seed in enumerate(cfg.seeds):
                        job = {
                            "sequence": spec, "sequence_name": seq.name, "kind": seq.kind,
                            "method": method, "mode": mode, "horizon_s": actual_s,
                            "horizon_steps": steps, "seed": int(seed),
                            "grid": cfg.grids.get(method, {}),
                            "grid_preset": cfg.preset(method), "n_components": n_components,
                            "lk": lk, "backend": cfg.backend,
                            "triplet_count": cfg.triplet_count, "save_artifacts": i == 0,
                        }
                        if seq.kind == "ct4d":
                            job["correspondence"] = "nw"
                        key = content_hash("job-v1", job)[:24]
                        if key in keys:  # another requested horizon rounded to this one
                            continue
                        keys.add(key)
                        job["key"] = key
                        job["requested_horizon_s"] = round(float(h_s), 9)
                        job["period_s"] = float(seq.period_s)
                        job["rnn"] = cfg.rnn_execution()  # how, not what: not in the key
                        if cfg.cache_dir is not None:
                            job["cache_dir"] = str(cfg.cache_dir)
                        jobs.append(job)
    return jobs


def check_horizon_fits(seq: LoadedSequence, steps: int, source: Path | None = None) -> None:
    """Refuse a horizon that leaves no validation target after the training window.

    Online predictions start after the training frames, so a target ``t`` needs
    ``t - steps >= train stop``; at least one validation frame must satisfy it.

    Raises
    ------
    ConfigurationError
        Naming the configuration file, the sequence, the horizon and the room it has.
    """
    if seq.ct4d is not None:
        return
    room = seq.splits.validation[1] - seq.splits.train[1]
    if steps >= room:
        raise ConfigurationError(
            f"{source or 'configuration'}: sequence {seq.name}: a horizon of {steps} steps "
            f"({steps * seq.period_s:.4g} s) is beyond the data: the validation window ends "
            f"{room} frames after the training window; choose horizons below {room} steps")


def fill_job_fields(grid: list[dict[str, Any]], job: dict[str, Any]) -> list[dict[str, Any]]:
    """Fill ``{sequence}``, ``{horizon_steps}``, ``{horizon_ms}``, ``{mode}``, ``{seed}`` and
    ``{method}`` in the string values of every grid point with this job's values.

    This lets one configuration point each job to its own file, e.g. population weights trained
    without the sequence being forecast: ``weights_path = ["pop-{sequence}-h{horizon_steps}.pt"]``.

    Raises
    ------
    ConfigurationError
        A placeholder that is not one of
        :data:`~motionpredict.evaluation.config.JOB_FIELDS`, or a malformed template.
    """
    values = {
        "sequence": job["sequence_name"],
        "horizon_steps": int(job["horizon_steps"]),
        "horizon_ms": round(1000 * float(job["horizon_s"])),
        "mode": job["mode"],
        "seed": int(job["seed"]),
        "method": job["method"],
    }
    out = []
    for point in grid:
        filled = {}
        for name, value in point.items():
            if isinstance(value, str) and "{" in value:
                try:
                    value = value.format(**values)
                except (KeyError, IndexError, ValueError) as exc:
                    raise ConfigurationError(
                        f"grid of {job['method']}: {name} = {value!r}: cannot fill in {exc}; "
                        f"placeholders: {', '.join('{' + f + '}' for f in JOB_FIELDS)}"
                    ) from None
            filled[name] = value
        out.append(filled)
    return out


def run_job(job: dict[str, Any], run_dir: str) -> dict[str, Any]:
    """Run one job (in any worker process); return ``{"key", "result", "elapsed_s"}``.

    The result records ``cpu_s``, the CPU time (s) the worker process spent on the job.

    User errors are returned as ``{"error": message}`` results instead of raised, so that one bad
    combination does not stop a batch.
    """
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    c0 = time.process_time()
    # Small per-step matrix products: several BLAS threads only fight over the cores.
    limiter = threadpool_limits(limits=1, user_api="blas")
    try:
        seq = load_sequence(job["sequence"])
        grid = fill_job_fields(method_grid(job["method"], job["grid"],
                                           job.get("grid_preset", "published")), job)
        if seq.ct4d is not None:
            res = _run_ct4d_job(job, seq, Path(run_dir))
        elif isinstance(seq.data, PointTrajectories):
            res = evaluate_markers(seq.data, seq.splits, method=job["method"],
                                   horizon_steps=job["horizon_steps"], mode=job["mode"],
                                   seed=job["seed"], grid=grid,
                                   rnn=job.get("rnn")).as_dict()
        else:
            cache = job_cache(job, run_dir)
            ref_index = int(job["sequence"].get("reference_index", 0))
            fields, reg_ms, lk = register_all(seq.data, lk_params=job["lk"] or None,
                                              reference_index=ref_index,
                                              backend=job["backend"], cache=cache)
            data = CineData(sequence=seq.data, fields_mm=fields, register_ms=reg_ms,
                            splits=seq.splits, roi=seq.roi, true_fields_mm=seq.true_fields_mm,
                            reference_index=ref_index, lk_params=lk)
            r, arts = evaluate_cine(data, method=job["method"],
                                    horizon_steps=job["horizon_steps"], mode=job["mode"],
                                    seed=job["seed"], grid=grid,
                                    n_components=job["n_components"],
                                    triplet_count=job["triplet_count"],
                                    rnn=job.get("rnn"), cache=cache)
            res = r.as_dict()
            res["lk_params"] = lk
            if job.get("save_artifacts"):
                res["artifacts"] = _save_artifacts(Path(run_dir), job["key"], arts)
        res["splits"] = {"train": seq.splits.train, "validation": seq.splits.validation,
                         "test": seq.splits.test, "offline_fit_until": seq.splits.offline_fit_until,
                         "source": seq.splits.source, "convention": "0-based, stop exclusive"}
        res["period_s"] = seq.period_s
        res["provenance"] = seq.provenance
    except MotionPredictError as exc:
        res = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        limiter.restore_original_limits()
    res["cpu_s"] = time.process_time() - c0  # this worker's CPU time for the job
    return {"key": job["key"], "result": res, "elapsed_s": time.perf_counter() - t0}


def job_cache(job: dict[str, Any], run_dir: str | Path) -> ArrayCache:
    """The on-disk cache of a job: its ``cache_dir`` (``[run] cache``), else ``RUN/cache``."""
    return ArrayCache(job.get("cache_dir") or Path(run_dir) / "cache")


_CT4D: dict[str, tuple[Any, Any, dict[str, Any]]] = {}


def ct4d_setup(job: dict[str, Any], seq: LoadedSequence,
               run_dir: Path) -> tuple[Any, Any, dict[str, Any]]:
    """Fields, points, series and correspondence model of a 4DCT; built once per process.

    The phases are registered through :func:`register_all` (content-hash cache in
    ``RUN/cache``, shared with every worker), then :func:`motionpredict.ct4d.prepare_ct4d` picks
    the internal points around the ROI and builds the breathing series (seeded by the
    sequence's ``seed``), and the correspondence model is fitted on the training window only.

    Returns
    -------
    (Ct4dSetup, CorrespondenceModel, dict)
        The setup, the fitted model and the Lucas-Kanade parameters used.
    """
    from motionpredict.ct4d import prepare_ct4d
    from motionpredict.sequences import DisplacementFieldSeries

    ref_index = int(job["sequence"].get("reference_index", 0))
    key = content_hash("ct4d-setup-v1", job["sequence"], job["lk"], job["backend"],
                       job.get("correspondence", "nw"), list(seq.splits.train))
    if key in _CT4D:
        return _CT4D[key]
    data = seq.data
    assert isinstance(data, ImageSequence) and seq.ct4d is not None and seq.roi is not None
    fields, reg_ms, lk = register_all(data, lk_params=job["lk"] or None, reference_index=ref_index,
                                backend=job["backend"], cache=job_cache(job, run_dir))
    dfs = DisplacementFieldSeries(fields=np.asarray(fields), spacing=data.spacing,
                                  times=data.times, reference_index=ref_index,
                                  origin=data.origin)
    opts = seq.ct4d
    setup = prepare_ct4d(data, seq.roi, fields=dfs, seed=int(opts["seed"]),
                         rate_hz=opts["rate_hz"], duration_s=opts["duration_s"],
                         mean_period_s=opts["mean_period_s"])
    setup.registration_s = float(np.sum(reg_ms)) / 1e3  # as timed when first registered
    model = setup.correspondence(job.get("correspondence", "nw"),
                                 train_samples=seq.splits.train[1])
    if len(_CT4D) > 2:  # a setup holds the phase fields; keep few
        _CT4D.clear()
    _CT4D[key] = (setup, model, lk)
    return setup, model, lk


def _run_ct4d_job(job: dict[str, Any], seq: LoadedSequence, run_dir: Path) -> dict[str, Any]:
    """One 4DCT job: grid search on the validation window of the series (point RMSE, mm), then
    point errors, predicted volumes and step times on the test window."""
    from motionpredict import metrics as M
    from motionpredict.ct4d import forecast_series, run_ct4d

    setup, model, lk = ct4d_setup(job, seq, run_dir)
    series = setup.series
    sp = seq.splits
    if sp.test[1] != series.n_samples:
        raise ConfigurationError(f"sequence {seq.name}: the 4DCT test window must run to the end "
                                 f"of the breathing series (sample {series.n_samples})")
    y = setup.trajectories.as_series()
    period = series.frame_period_s
    h = int(job["horizon_steps"])
    horizon_s = h * period
    train = sp.train[1]
    val = slice(*scored_window(sp.validation, sp, job["method"]))
    grid = method_grid(job["method"], job["grid"], job.get("grid_preset", "published"))
    best: tuple[float, dict[str, Any]] | None = None
    for params in grid:
        fc = forecast_series(y, period, method=job["method"], horizon_s=horizon_s,
                             train_samples=train, params=params, mode=job["mode"],
                             seed=job["seed"], test_start=val.start)
        score = fc.point_errors(val)["rmse_mm"]
        if best is None or score < best[0]:
            best = (score, params)
    assert best is not None
    score, params = best
    actual: dict[int, np.ndarray] = {}
    predicted: dict[int, np.ndarray] = {}
    run = run_ct4d(series, y, model, method=job["method"], horizon_s=horizon_s,
                   train_samples=train, roi_mask=setup.roi_mask,
                   volume_samples=max(1, int(job["triplet_count"])), params=params,
                   mode=job["mode"], seed=job["seed"], test_start=sp.test[0],
                   actual_cache=actual, predicted_out=predicted)
    fc = run.forecast
    te = slice(*sp.test)
    metrics: dict[str, float] = {k: float(v) for k, v in run.row().items()
                                 if isinstance(v, (int, float)) and k not in
                                 ("horizon_s", "horizon_steps")}
    n_pts = setup.points_mm.shape[0]
    no_pred = y[sp.test[0] - h: sp.test[1] - h]
    metrics["no_prediction_rmse_mm"] = M.marker_metrics(no_pred, y[te])["rmse_mm"]
    vols = run.volumes
    assert vols is not None
    stages = {"forecast": fc.step_ms[vols.indices - h], "reconstruct": vols.correspondence_ms,
              "warp": vols.warp_ms}
    metrics.update(M.stage_summary(stages))
    metrics["registration_s"] = float(setup.registration_s)
    metrics["divergence_resets"] = float(len(fc.events))
    metrics.update(guard_summary(fc.guarded[te]))
    metrics["n_test"] = float(sp.test[1] - sp.test[0])
    metrics["n_volumes"] = float(len(vols.indices))
    e = np.linalg.norm((fc.predicted[te] - y[te]).reshape(-1, n_pts, 3), axis=2).mean(axis=1)
    lo = sp.validation[0]
    traces = {
        "t": list(range(lo, sp.test[1])),
        "time_s": series.times[lo: sp.test[1]].tolist(),
        "true": y[lo: sp.test[1]].tolist(),
        "predicted": fc.predicted[lo: sp.test[1]].tolist(),
        "test_error_mm": e.tolist(),
        "breathing": y[te, 0::3].mean(axis=1).tolist(),  # slice axis = superior-inferior
        "stage_ms": {k: np.asarray(v).tolist() for k, v in stages.items()},
        "volume_samples": vols.indices.tolist(),
        "volume_pearson": vols.pearson.tolist(), "volume_nrmse": vols.nrmse.tolist(),
    }
    res: dict[str, Any] = {
        "chosen": {"params": params, "correspondence": model.name,
                   "correspondence_setting": model.chosen_},
        "validation_score": score,
        "validation_metric": "RMSE of internal-point positions (mm)",
        "metrics": metrics, "traces": traces, "grid_size": len(grid),
        "label": ("reference mode (published look-ahead: learns from targets before they are "
                  "acquired)" if job["mode"] == "reference" else "causal"),
        "points_mm": setup.points_mm.tolist(), "series": series.params.to_dict(),
        "lk_params": lk,
    }
    if job.get("save_artifacts"):
        # axial slice through the ROI centroid of each scored volume (report triplets)
        z0 = round(float(np.nonzero(setup.roi_mask)[0].mean()))
        idx = [int(k) for k in vols.indices]
        res["artifacts"] = _save_artifacts(run_dir, job["key"], {
            "triplet_t": np.asarray(idx),
            "triplet_acquired": np.stack([actual[k][z0] for k in idx]).astype(np.float32),
            "triplet_predicted": np.stack([predicted[k][z0] for k in idx]).astype(np.float32),
            "roi": setup.roi_mask[z0]})
    return res


def _save_artifacts(run_dir: Path, key: str, arrays: dict[str, np.ndarray]) -> str:
    from motionpredict.io.atomic import save_npz

    return save_npz(run_dir, f"artifacts/{key}.npz", arrays)


def _local(pending: list[dict[str, Any]], run_dir: Path, n_jobs: int) -> Iterator[dict[str, Any]]:
    if n_jobs == 1:
        for job in pending:
            yield run_job(job, str(run_dir))
        return
    from joblib import Parallel, delayed

    par = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator_unordered")
    yield from par(delayed(run_job)(job, str(run_dir)) for job in pending)


def _dask(pending: list[dict[str, Any]], run_dir: Path, address: Any) -> Iterator[dict[str, Any]]:
    try:
        from distributed import Client, as_completed
    except ImportError:  # pragma: no cover
        raise ConfigurationError("a Dask scheduler needs dask[distributed] (pip install "
                                 "'motionpredict[cluster]')") from None
    own = not isinstance(address, Client)
    client = Client(address, timeout="30s") if own else address
    try:
        futures = [client.submit(run_job, job, str(run_dir), pure=False) for job in pending]
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        if own:
            client.close()


def _warm_registration_cache(pending: list[dict[str, Any]], run_dir: Path) -> None:
    """Register each image sequence (and fit its PCA model) once here, so parallel workers do
    not all do it: they read both from the on-disk cache."""
    seen = set()
    for job in pending:
        if job["kind"] == "markers":
            continue
        key = content_hash(job["sequence"], job["lk"], job["backend"])
        if key in seen:
            continue
        seen.add(key)
        seq = load_sequence(job["sequence"])
        if isinstance(seq.data, ImageSequence):
            cache = job_cache(job, run_dir)
            fields, _, _ = register_all(
                seq.data, lk_params=job["lk"] or None,
                reference_index=int(job["sequence"].get("reference_index", 0)),
                backend=job["backend"], cache=cache)
            if job["kind"] != "ct4d":
                fit_pca(fields, seq.splits.train, 1, cache)


def _eta_group(job: dict[str, Any]) -> str:
    """Jobs of one group cost about the same: one method on one kind of sequence."""
    return f"{job['method']} ({job['kind']})"


def format_duration(seconds: float) -> str:
    """``"45 s"``, ``"12 min 5 s"``, ``"3 h 20 min"`` (rounded to the shown unit)."""
    s = max(0, round(float(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {(s % 3600) // 60} min"


class JobETA:
    """Remaining time of a batch from the cost of the jobs that have finished.

    A job's cost is its measured duration (``elapsed_s`` of its record, or, where a record has
    none, the ``clock`` time since the previous job finished, times the number of workers). The
    cost of each job still to run is the mean cost of the finished jobs of its group (same
    method, same kind of sequence), or of all finished jobs while its group has none; the ETA
    is their sum divided by the number of workers. Before the first job finishes it is unknown:
    the methods' costs differ by 1000x, so no guess is made.

    Parameters
    ----------
    jobs
        The pending jobs (dicts with ``key``, ``method`` and ``kind``).
    workers
        Jobs that run at the same time (local processes or Dask workers).
    clock
        Monotonic clock in s (injected by tests).
    """

    def __init__(self, jobs: list[dict[str, Any]], workers: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.workers = max(1, int(workers))
        self.clock = clock
        self._group = {j["key"]: _eta_group(j) for j in jobs}
        self.remaining: dict[str, int] = {}
        for g in self._group.values():
            self.remaining[g] = self.remaining.get(g, 0) + 1
        self.cost: dict[str, list[float]] = {}
        self._last = clock()

    def finished(self, key: str, elapsed_s: float | None = None) -> None:
        """Record that job ``key`` finished (``elapsed_s``: its duration in s, if known)."""
        now = self.clock()
        if elapsed_s is None:
            elapsed_s = (now - self._last) * self.workers
        self._last = now
        g = self._group.get(key)
        if g is None:
            return
        self.remaining[g] -= 1
        self.cost.setdefault(g, []).append(float(elapsed_s))

    def eta_s(self) -> float | None:
        """Seconds left (``None`` before any job finished)."""
        done = [c for cs in self.cost.values() for c in cs]
        if not done:
            return None
        overall = sum(done) / len(done)
        left = sum(n * (sum(self.cost[g]) / len(self.cost[g]) if self.cost.get(g) else overall)
                   for g, n in self.remaining.items())
        return left / self.workers

    def untimed(self) -> list[str]:
        """Groups with jobs left and none finished yet (their cost is a guess)."""
        return sorted(g for g, n in self.remaining.items() if n > 0 and not self.cost.get(g))

    def text(self) -> str:
        """One line for the progress bar: ``"ETA 4 min 10 s"`` or ``"ETA unknown"``."""
        eta = self.eta_s()
        if eta is None:
            return "ETA unknown (no job finished yet)"
        out = f"ETA {format_duration(eta)}"
        guessed = self.untimed()
        if guessed:
            out += f" (not yet timed: {', '.join(guessed)})"
        return out


@dataclass
class RunSummary:
    """What :func:`run_evaluation` did."""

    run_dir: Path
    total: int
    skipped: int
    computed: int
    errors: int


def run_evaluation(
    cfg: EvalConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    jobs: int | None = None,
    scheduler: Any = None,
    progress: bool = True,
    on_done: Callable[[dict[str, Any]], None] | None = None,
    force: bool = False,
) -> RunSummary:
    """Run (or resume) a batch evaluation into a run folder.

    Parameters
    ----------
    cfg
        The configuration.
    run_dir
        Run folder (holds ``results.sqlite``, ``cache/``, ``artifacts/``).
    resume
        Continue a run: jobs already in the store are skipped. Without it a folder that already
        holds results is refused.
    jobs
        Local worker processes (default ``cfg.jobs``).
    scheduler
        ``tcp://HOST:PORT`` of a Dask scheduler, or a ``distributed.Client`` (default
        ``cfg.address``; ``None`` runs locally).
    progress
        Show a progress bar with ETA on stderr.
    on_done
        Called with each finished job's record after it is stored.
    force
        Delete an existing run folder first (after every input was read successfully).

    Raises
    ------
    ConfigurationError
        No sequence could be read (nothing is created); the folder holds results and neither
        ``resume`` nor ``force`` is given; ``resume`` with a configuration whose fingerprint
        differs from the stored one (the message lists what differs).
    """
    import shutil

    from motionpredict import __version__

    run_dir = Path(run_dir)
    failures: list[tuple[dict[str, Any], str]] = []
    all_jobs = build_jobs(cfg, run_dir, failures)  # every input is read before anything is written
    if failures and not all_jobs:  # nothing to run: a user error, not a run of failed jobs
        spec, message = failures[0]
        more = f" (and {len(failures) - 1} more sequence(s))" if len(failures) > 1 else ""
        raise ConfigurationError(f"{cfg.source or 'configuration'}: no sequence could be read"
                                 f"{more}: {message.split(': ', 1)[-1]}")
    if force and run_dir.exists():
        if resume:
            raise ConfigurationError("--force replaces the run folder and --resume completes it; "
                                     "pass one of them")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with ResultStore(run_dir) as store:
        done = store.done_keys()
        if done and not resume:
            raise ConfigurationError(
                f"{run_dir}: the run folder already holds {len(done)} results; pass --resume to "
                "complete it, --force to replace it, or choose another --out")
        check_same_config(store, cfg.as_dict(), run_dir)
        store.set_meta("fingerprint", config_fingerprint(cfg.as_dict()))
        for spec, message in failures:  # sequences that could not be loaded
            name = spec.get("name") or Path(spec.get("path", "?")).name
            store.put(content_hash("load-failure", spec)[:24],
                      {"sequence": spec, "sequence_name": name, "kind": "unreadable",
                       "method": "-", "mode": "-", "horizon_s": 0.0, "horizon_steps": 0,
                       "seed": 0}, {"error": message})
        store.set_meta("config", cfg.as_dict())
        store.set_meta("version", __version__)
        store.set_meta("python", sys.version.split()[0])
        pending = [j for j in all_jobs if j["key"] not in done]
        skipped = len(all_jobs) - len(pending)
        _warm_registration_cache(pending, run_dir)
        address = scheduler if scheduler is not None else cfg.address
        n_jobs = int(jobs or cfg.jobs)
        results = _dask(pending, run_dir, address) if address else _local(pending, run_dir,
                                                                            n_jobs)
        by_key = {j["key"]: j for j in pending}
        errors = 0
        bar = None
        eta = JobETA(pending, 1 if address else n_jobs)
        if progress and pending:
            from tqdm import tqdm

            # tqdm's own ETA assumes every job costs the same; ours weighs them by method
            bar = tqdm(total=len(pending), desc="jobs", unit="job", file=sys.stderr,
                       initial=0, bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| "
                       "{elapsed} elapsed{postfix}")  # tqdm puts ", " before the postfix
            bar.set_postfix_str(eta.text())
        try:
            for rec in results:
                spec = {k: v for k, v in by_key[rec["key"]].items() if k != "key"}
                store.put(rec["key"], spec, rec["result"], rec["elapsed_s"])
                errors += "error" in rec["result"]
                eta.finished(rec["key"], rec.get("elapsed_s"))
                if bar is not None:
                    bar.set_postfix_str(eta.text(), refresh=False)
                    bar.update(1)
                if on_done is not None:
                    on_done(rec)
        finally:
            if bar is not None:
                bar.close()
    return RunSummary(run_dir=run_dir, total=len(all_jobs), skipped=skipped,
                      computed=len(pending), errors=errors + len(failures))
