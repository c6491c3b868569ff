"""Batch evaluation: sequences x methods x horizons x modes x seeds, locally or on Dask.

Jobs run through joblib worker processes on this machine (``jobs`` of them, with a progress bar
and ETA), or on an existing ``dask.distributed`` scheduler when an address is given: the same job
function runs there unchanged. The main process stores every finished job in the run's SQLite
store at once, so ``resume=True`` recomputes only what is missing after any interruption.
Registration fields are cached by content hash in ``RUN/cache`` (shared by every job of a
sequence); predicted-frame triplets for the report go to ``RUN/artifacts``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from motionpredict.errors import ConfigurationError, MotionPredictError
from motionpredict.evaluation.cache import ArrayCache, content_hash
from motionpredict.evaluation.config import EvalConfig
from motionpredict.evaluation.protocol import (
    CineData,
    Splits,
    default_splits,
    evaluate_cine,
    evaluate_markers,
    horizons_from_sidecar,
    method_grid,
    read_sidecar,
    register_all,
    roi_from_sidecar,
    splits_from_one_based,
    splits_from_sidecar,
    steps_for,
)
from motionpredict.evaluation.store import ResultStore
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

    @property
    def period_s(self) -> float:
        """Frame (sample) period in s."""
        d = self.data
        return d.frame_period if isinstance(d, ImageSequence) else d.sample_period

    @property
    def n(self) -> int:
        """Number of frames (samples)."""
        d = self.data
        return d.n_frames if isinstance(d, ImageSequence) else d.n_samples


def expand_sequences(specs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replace a folder of sequence folders (each with a ``sequence.json``) by one entry each."""
    out = []
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
    if "phantom" in spec:
        from motionpredict import phantom as ph

        kind = spec["phantom"]
        seed = int(spec.get("seed", 0))
        if kind == "cine":
            kw = {k: spec[k] for k in ("n_frames", "frame_period_s") if k in spec}
            if "shape" in spec:
                kw["shape"] = tuple(spec["shape"])
            if "spacing_mm" in spec:
                kw["spacing_mm"] = tuple(spec["spacing_mm"])
            p = ph.make_cine(seed=seed, **kw)
        elif kind == "ct4d":
            kw = {k: spec[k] for k in ("n_phases",) if k in spec}
            if "shape" in spec:
                kw["shape"] = tuple(spec["shape"])
            p = ph.make_ct4d(seed=seed, **kw)
        else:
            kw = {k: spec[k] for k in ("duration_s", "rate_hz") if k in spec}
            p = ph.make_markers(seed=seed, **kw)
        data = p.sequence
        if isinstance(data, ImageSequence):
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
        data = load(path, **kw)
        meta = read_sidecar(path) or {}
        name = spec.get("name") or meta.get("name") or path.stem
        pv = data.provenance
        prov = {"source": path.name, "dataset": meta.get("dataset"),
                "frame_period_source": pv.frame_period_source,
                "spacing_source": getattr(pv, "spacing_source", None),
                "citation": meta.get("citation"), "licence": meta.get("licence")}
        if isinstance(data, ImageSequence):
            roi = roi_from_sidecar(meta, data.shape)
    n = data.n_frames if isinstance(data, ImageSequence) else data.n_samples
    period = data.frame_period if isinstance(data, ImageSequence) else data.sample_period
    if "splits" in spec:
        splits = splits_from_one_based(spec["splits"], n, "config")
    else:
        splits = splits_from_sidecar(meta, n, sample_period_s=period) or default_splits(n)
    if "roi" in spec:
        roi = roi_from_sidecar({"roi": spec["roi"]}, data.shape)  # type: ignore[union-attr]
    horizons = spec.get("horizons_s") or horizons_from_sidecar(meta, period)
    loaded = LoadedSequence(
        name=str(name), data=data, splits=splits,
        horizons_s=[float(h) for h in horizons] if horizons else None, roi=roi,
        true_fields_mm=true_fields, lk_reference=meta.get("reference_lk_parameters"),
        provenance=prov)
    if len(_LOADED) > 8:
        _LOADED.clear()
    _LOADED[key] = loaded
    return loaded


def build_jobs(cfg: EvalConfig, run_dir: Path,
               failures: list[tuple[dict[str, Any], str]] | None = None) -> list[dict[str, Any]]:
    """Expand a configuration into job specifications (JSON-able dicts with a ``key``).

    A sequence that cannot be loaded raises its error, or, when ``failures`` is a list, is
    recorded there as ``(spec, message)`` and skipped.
    """
    jobs = []
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
        for h_s in horizons:
            steps = steps_for(h_s, seq.period_s, cfg.round_horizons)
            for method in cfg.methods:
                for mode in cfg.modes:
                    for i, seed in enumerate(cfg.seeds):
                        job = {
                            "sequence": spec, "sequence_name": seq.name,
                            "kind": "markers" if isinstance(seq.data, PointTrajectories)
                            else f"image-{seq.data.ndim}d",
                            "method": method, "mode": mode, "horizon_s": round(float(h_s), 9),
                            "horizon_steps": steps, "seed": int(seed),
                            "grid": cfg.grids.get(method, {}), "n_components": cfg.n_components,
                            "lk": lk, "backend": cfg.backend,
                            "triplet_count": cfg.triplet_count, "save_artifacts": i == 0,
                        }
                        job["key"] = content_hash("job-v1", job)[:24]
                        jobs.append(job)
    return jobs


def run_job(job: dict[str, Any], run_dir: str) -> dict[str, Any]:
    """Run one job (in any worker process); return ``{"key", "result", "elapsed_s"}``.

    User errors are returned as ``{"error": message}`` results instead of raised, so that one bad
    combination does not stop a batch.
    """
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    # Small per-step matrix products: several BLAS threads only fight over the cores.
    limiter = threadpool_limits(limits=1, user_api="blas")
    try:
        seq = load_sequence(job["sequence"])
        grid = method_grid(job["method"], job["grid"])
        if isinstance(seq.data, PointTrajectories):
            res = evaluate_markers(seq.data, seq.splits, method=job["method"],
                                   horizon_steps=job["horizon_steps"], mode=job["mode"],
                                   seed=job["seed"], grid=grid).as_dict()
        else:
            cache = ArrayCache(Path(run_dir) / "cache")
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
                                    triplet_count=job["triplet_count"])
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
    return {"key": job["key"], "result": res, "elapsed_s": time.perf_counter() - t0}


def _save_artifacts(run_dir: Path, key: str, arrays: dict[str, np.ndarray]) -> str:
    folder = run_dir / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{key}.npz"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
    os.close(fd)
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return f"artifacts/{key}.npz"


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
    """Register each image sequence once here, so parallel workers do not all do it."""
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
            register_all(seq.data, lk_params=job["lk"] or None,
                         reference_index=int(job["sequence"].get("reference_index", 0)),
                         backend=job["backend"], cache=ArrayCache(run_dir / "cache"))


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
    """
    from motionpredict import __version__

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    failures: list[tuple[dict[str, Any], str]] = []
    all_jobs = build_jobs(cfg, run_dir, failures)
    with ResultStore(run_dir) as store:
        done = store.done_keys()
        if done and not resume:
            raise ConfigurationError(
                f"{run_dir}: the run folder already holds {len(done)} results; pass --resume to "
                "complete it or choose another --out")
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
        if progress and pending:
            from tqdm import tqdm

            bar = tqdm(total=len(pending), desc="jobs", unit="job", file=sys.stderr,
                       initial=0, smoothing=0.1)
        try:
            for rec in results:
                spec = {k: v for k, v in by_key[rec["key"]].items() if k != "key"}
                store.put(rec["key"], spec, rec["result"], rec["elapsed_s"])
                errors += "error" in rec["result"]
                if bar is not None:
                    bar.update(1)
                if on_done is not None:
                    on_done(rec)
        finally:
            if bar is not None:
                bar.close()
    return RunSummary(run_dir=run_dir, total=len(all_jobs), skipped=skipped,
                      computed=len(pending), errors=errors + len(failures))
