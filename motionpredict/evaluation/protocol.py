"""The evaluation protocol: splits, horizons, grid search on validation, numbers on test only.

For one sequence, method, mode, horizon and seed (one *job*):

1. every frame is registered to the reference frame (Lucas-Kanade; cached by content hash);
2. for each number of PCA components ``n`` of the grid, the model is fitted on the training frames
   only and every frame's field is projected (marker series skip this);
3. the weights are standardised with training statistics; each hyper-parameter combination of the
   method's grid is run online over the series (predict-then-learn, in the requested mode); offline
   methods are fitted on the pairs whose target precedes ``offline_fit_until``;
4. the combination (and ``n``) with the lowest validation score is kept: mean geometric error (mm)
   of the rebuilt fields for cine, RMSE (mm) of positions for markers, over the validation targets
   that no fit has seen;
5. the chosen setting is run again and scored on the test targets only.

Splits are 0-based half-open ``(start, stop)`` ranges of *target* frames here; sidecars and cards
write them 1-based inclusive.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from motionpredict import metrics as M
from motionpredict.errors import ConfigurationError
from motionpredict.evaluation.cache import ArrayCache, content_hash
from motionpredict.forecasters import Standardizer, get, guard_summary, run_online
from motionpredict.io.sidecar import Sidecar, roi_mask, split_spec
from motionpredict.io.sidecar import read_sidecar as _read_typed_sidecar
from motionpredict.pipeline import SPLAT_SIGMA_PX, horizon_to_steps, new_forecaster, true_range
from motionpredict.sequences import ImageSequence, PointTrajectories

SIDECAR = "sequence.json"


@dataclass(frozen=True)
class Splits:
    """Train / validation / test windows, 0-based half-open ``(start, stop)`` frame indices.

    Attributes
    ----------
    train, validation, test
        Windows of frames (the PCA model and the standardiser are fitted on ``train``).
    offline_fit_until
        Offline methods fit on pairs whose target index is ``< offline_fit_until``.
    source
        Where the splits came from (``sidecar``, ``config``, ``default``).
    """

    train: tuple[int, int]
    validation: tuple[int, int]
    test: tuple[int, int]
    offline_fit_until: int
    source: str = "default"

    def check(self, n: int, what: str = "sequence") -> None:
        """Raise :class:`ConfigurationError` unless the windows are ordered and inside ``0..n``."""
        a, b, c = self.train, self.validation, self.test
        ok = 0 <= a[0] < a[1] <= b[0] < b[1] <= c[0] < c[1] <= n and a[1] - a[0] >= 2
        if not ok:
            raise ConfigurationError(
                f"{what}: splits train {a}, validation {b}, test {c} (0-based, stop exclusive) "
                f"must be ordered, non-empty and within the {n} frames"
            )
        if not a[1] <= self.offline_fit_until <= c[0]:
            raise ConfigurationError(
                f"{what}: offline_fit_until {self.offline_fit_until} must lie between the end of "
                f"training ({a[1]}) and the start of the test window ({c[0]})"
            )


def splits_from_one_based(d: dict[str, Any], n: int, source: str) -> Splits:
    """Build :class:`Splits` from 1-based inclusive ``{"train": [a, b], "cv": [c, d], "test":
    [e, f] | "test_from": e, "offline_last_training_target": g}``."""
    try:
        tr = (int(d["train"][0]) - 1, int(d["train"][1]))
        cvk = d.get("cv", d.get("validation"))
        if cvk is None:
            raise KeyError("cv")
        cv = (int(cvk[0]) - 1, int(cvk[1]))
        if "test" in d:
            te = (int(d["test"][0]) - 1, int(d["test"][1]))
        else:
            te = (int(d["test_from"]) - 1, n)
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise ConfigurationError(f"splits {d} need train, cv and test (1-based): {exc}") from None
    off = d.get("offline_last_training_target", d.get("offline_methods_last_training_target"))
    if source == "config" and te[1] > n:  # a stated window beyond the data is a mistake
        raise ConfigurationError(f"splits {d}: the test window ends at {te[1]} (1-based), beyond "
                                 f"the {n} frames of the sequence")
    s = Splits(tr, cv, (te[0], min(te[1], n)), int(off) if off is not None else tr[1], source)
    s.check(n)
    return s


def default_splits(n: int) -> Splits:
    """45 % train, 30 % validation, 25 % test (used only when nothing else is known)."""
    a = max(2, round(0.45 * n))
    b = max(a + 1, round(0.75 * n))
    s = Splits((0, a), (a, b), (b, n), a, "default: 45/30/25 %")
    s.check(n)
    return s


def read_sidecar(path: str | Path) -> dict[str, Any] | None:
    """Return the ``sequence.json`` of a sequence folder (or next to a file) as a dict, else
    ``None``: :func:`motionpredict.io.sidecar.read_sidecar` (the one reader), its ``raw`` entries.
    """
    sc = _read_typed_sidecar(path)
    if sc is None or sc.path.name != SIDECAR:
        return None
    return sc.raw


def splits_from_sidecar(meta: dict[str, Any], n: int, *, sample_period_s: float | None = None
                        ) -> Splits | None:
    """Splits stated by a sidecar/card (cine: ``splits.online_methods``; markers: per rate),
    chosen by :func:`motionpredict.io.sidecar.split_spec`, made 0-based here."""
    spec = split_spec(meta, sample_period_s)
    if spec is None:
        return None
    d, source = spec
    return splits_from_one_based(d, n, source)


def horizons_from_sidecar(meta: dict[str, Any], period_s: float) -> list[float] | None:
    """Horizons in s stated by a sidecar (``horizons_s``, or ``horizons_steps`` x period)."""
    return Sidecar(path=Path(SIDECAR), raw=dict(meta)).horizons_s(period_s)


def roi_from_sidecar(meta: dict[str, Any], shape: tuple[int, ...]) -> np.ndarray | None:
    """Boolean ROI mask from a sidecar's 1-based inclusive ``roi`` (x = column, y = row, z =
    slice), by :func:`motionpredict.io.sidecar.roi_mask`; ``None`` when absent or malformed."""
    roi = meta.get("roi")
    return roi_mask(roi, shape) if isinstance(roi, dict) else None


# ---------------------------------------------------------------------------- grids
def expand_grid(grid: dict[str, Any]) -> list[dict[str, Any]]:
    """All combinations of a ``{name: values}`` grid (scalars are one-value lists)."""
    names = sorted(grid)
    values = [v if isinstance(v, (list, tuple)) else [v] for v in (grid[k] for k in names)]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


def method_grid(method: str, override: dict[str, Any] | None = None,
                preset: str = "published") -> list[dict[str, Any]]:
    """The search grid of a method: the ``preset``'s grid (default: its declared grid), with
    ``override`` entries replacing it (see :mod:`motionpredict.evaluation.grids`)."""
    from motionpredict.evaluation import grids

    return grids.method_grid(method, override, preset)


# ---------------------------------------------------------------------------- data
@dataclass
class CineData:
    """A cine (or phase) sequence ready for forecasting: LK fields of every frame and their cost."""

    sequence: ImageSequence
    fields_mm: np.ndarray  # (T, *spatial, ndim) float32
    register_ms: np.ndarray  # (T,)
    splits: Splits
    roi: np.ndarray | None = None
    true_fields_mm: np.ndarray | None = None
    reference_index: int = 0
    lk_params: dict[str, Any] = field(default_factory=dict)


def register_all(
    sequence: ImageSequence,
    *,
    lk_params: Any = None,
    reference_index: int = 0,
    backend: str = "numpy",
    cache: ArrayCache | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Register every frame to the reference (cached by content hash).

    Returns
    -------
    fields_mm, register_ms, params
        ``(T, *spatial, ndim)`` fields in mm, ``(T,)`` registration time per frame in ms (as
        measured when first computed), and the LK parameters used as a dict.
    """
    from motionpredict.registration import LKParams, LucasKanade

    if lk_params is None:
        params = LKParams()
    elif isinstance(lk_params, dict):
        params = LKParams.from_mapping(lk_params)
    else:
        params = lk_params
    pdict = params.as_dict()
    key = content_hash("lk-fields-v1", sequence.frames, list(sequence.spacing), reference_index,
                       pdict, backend)
    spacing = np.asarray(sequence.spacing, dtype=np.float64)
    ref = sequence.frames[reference_index]

    def compute() -> dict[str, np.ndarray]:
        out = np.empty((sequence.n_frames, *sequence.shape, sequence.ndim), np.float32)
        ms = np.empty(sequence.n_frames)
        registrar = LucasKanade(ref, params, backend=backend)
        for t in range(sequence.n_frames):
            t0 = time.perf_counter()
            flow = registrar.register(sequence.frames[t])
            ms[t] = (time.perf_counter() - t0) * 1e3
            out[t] = np.moveaxis(np.asarray(flow, dtype=np.float64), 0, -1) * spacing
        return {"fields_mm": out, "register_ms": ms}

    data = (cache or ArrayCache(None)).get_or_compute("lk", key, compute)
    return data["fields_mm"], data["register_ms"], pdict


_PCA_MEMO: dict[str, Any] = {}
#: Principal directions kept in the on-disk PCA cache (the protocol uses at most 4).
PCA_CACHE_COMPONENTS = 16


def training_fields_key(fields_mm: np.ndarray, train: tuple[int, int]) -> str:
    """SHA-256 key of the training fields (the identity of a PCA fit); hash once per job."""
    return content_hash("pca-v3", fields_mm[train[0]: train[1]])


def fit_pca(fields_mm: np.ndarray, train: tuple[int, int], n_components: int,
            cache: ArrayCache | None = None, key: str | None = None) -> Any:
    """PCA motion model fitted on the training fields.

    One SVD gives every number of components; it is kept per process and, with ``cache``, on
    disk (mean field, the first :data:`PCA_CACHE_COMPONENTS` directions and every singular value),
    keyed by the SHA-256 of the training fields, so a second evaluation of the same sequence
    with the same registration settings skips the fit.

    Parameters
    ----------
    fields_mm
        ``(T, *spatial, ndim)`` fields in mm.
    train
        ``(start, stop)`` training frames (0-based, stop exclusive).
    n_components
        Modes kept in the returned model.
    cache
        On-disk cache (``None``: per process only).
    key
        :func:`training_fields_key` of ``fields_mm`` and ``train`` when the caller has it
        (hashing the fields costs ~0.06 s on ETH); computed here otherwise.
    """
    from motionpredict.motion_model import PCAMotionModel

    fit_frames = fields_mm[train[0]: train[1]]
    key = key or training_fields_key(fields_mm, train)
    if key not in _PCA_MEMO:
        n_t = train[1] - train[0]

        def compute() -> dict[str, np.ndarray]:
            full = PCAMotionModel(n_t).fit(fit_frames)
            assert full.components_ is not None and full.singular_values_ is not None
            return {"mean": np.asarray(full.mean_),
                    "components": full.components_[:PCA_CACHE_COMPONENTS],
                    "singular_values": full.singular_values_, "n_train": np.asarray(n_t)}

        if len(_PCA_MEMO) > 16:
            _PCA_MEMO.clear()
        _PCA_MEMO[key] = (cache or ArrayCache(None)).get_or_compute("pca", key, compute)
    stored = _PCA_MEMO[key]
    comps = stored["components"]
    n_t = int(stored["n_train"])
    if n_components > n_t:
        raise ConfigurationError(f"{n_components} components need at least as many training "
                                 f"frames, got {n_t}")
    if n_components > comps.shape[0]:  # more than the cache keeps: fit in full
        return PCAMotionModel(n_components).fit(fit_frames)
    model = PCAMotionModel(n_components)
    sv = stored["singular_values"]
    model.mean_ = stored["mean"]
    model.components_ = comps[:n_components]
    model.explained_variance_ = sv[:n_components] ** 2 / max(n_t - 1, 1)
    model.singular_values_ = sv
    return model


def _weights(data: CineData, model: Any, fields_key: str, n: int) -> np.ndarray:
    """``(T, n)`` weights of every frame (memoised per process with the PCA model);
    ``fields_key`` is the :func:`training_fields_key` of the model's fit."""
    key = content_hash("w-v1", fields_key, n, data.fields_mm.shape)
    if key not in _PCA_MEMO:
        _PCA_MEMO[key] = np.asarray(model.project(data.fields_mm), dtype=np.float64)
    return _PCA_MEMO[key]


# ---------------------------------------------------------------------------- forecasting
def forecast_series(
    series: np.ndarray,
    *,
    method: str,
    horizon: int,
    mode: str,
    seed: int,
    params: dict[str, Any],
    splits: Splits,
    frame_period_s: float | None = None,
    guarded_out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Run a forecaster online over a raw series, standardised with the training window.

    ``frame_period_s`` (s) reaches methods that declare it (weights trained at one period).
    ``guarded_out``, a ``(T,)`` bool array, receives ``OnlineRun.guarded`` (True where the
    forecast for ``t`` was the plausibility guard's fallback).

    Returns
    -------
    predicted, step_ms, n_events
        ``(T, p)`` forecasts in the series' units aligned to their target (NaN where none),
        ``(T,)`` ms per step, number of divergence resets.
    """
    std = Standardizer(series[splits.train[0]: splits.train[1]])
    z = std.transform(series)
    f = new_forecaster(method, horizon=horizon, n_features=series.shape[1], mode=mode,  # type: ignore[arg-type]
                        seed=seed, params=params, frame_period_s=frame_period_s)
    run = run_online(f, z, fit_until=None if f.online else splits.offline_fit_until)
    if guarded_out is not None:
        guarded_out[:] = run.guarded
    return std.inverse(run.predicted), run.step_ms, len(run.events)


def scored_window(window: tuple[int, int], splits: Splits, method: str) -> tuple[int, int]:
    """Targets of ``window`` that no fit has seen (offline fits reach ``offline_fit_until``)."""
    start = window[0]
    if not get(method).online:
        start = max(start, splits.offline_fit_until)
    if start >= window[1]:
        raise ConfigurationError(
            f"no validation target is left after the offline fit window ({window}, fit until "
            f"{splits.offline_fit_until})"
        )
    return start, window[1]


class ValidationScorer:
    """Mean geometric error (mm) of rebuilt fields on a window, for many forecasts at once.

    ``u - û = (u - ū) - Φᵀŵ``: the residual ``r = u - ū`` of the window is computed once per
    PCA model (float32, as the fields); a forecast only subtracts ``ŵ Φ`` and takes per-pixel
    norms. Forecasts are scored together in tiles of pixels small enough to stay in the CPU
    cache (about 4x faster than one full-size pass per forecast on a 270 x 270 image; the sums
    are float64).

    Parameters
    ----------
    data
        The sequence's fields.
    model
        Fitted :class:`~motionpredict.motion_model.PCAMotionModel` with ``n`` modes.
    win
        ``(start, stop)`` target frames scored.
    """

    #: Pixels per tile and forecasts per chunk (bound the ``(chunk, tile x ndim)`` temporaries).
    tile_px = 512
    chunk = 128

    def __init__(self, data: CineData, model: Any, win: tuple[int, int]) -> None:
        self.nd = data.fields_mm.shape[-1]
        self.win = win
        self.comp = np.asarray(model.components_, dtype=np.float32)  # (n, P * nd)
        self.n = self.comp.shape[0]
        lk = data.fields_mm[win[0]: win[1]].reshape(win[1] - win[0], -1)
        self.resid = lk - np.asarray(model.mean_, dtype=np.float32).ravel()  # (T, P * nd)

    def scores(self, preds: list[np.ndarray]) -> np.ndarray:
        """``(G,)`` mean error (mm) over the window's frames and pixels of each forecast.

        ``preds`` holds ``(T, n)`` forecasts aligned to their target; a forecast that is not
        finite on the window scores ``inf``.
        """
        w = np.stack([np.asarray(p[self.win[0]: self.win[1]], dtype=np.float32)
                      for p in preds])  # (G, T, n)
        if w.shape[2] != self.n:
            raise ValueError(f"forecasts have {w.shape[2]} weights, the model {self.n}")
        nd = self.nd
        step = self.tile_px * nd
        total = self.resid.shape[1]
        out = np.zeros(len(w))
        for g0 in range(0, len(w), self.chunk):
            wg = w[g0: g0 + self.chunk]
            acc = np.zeros(len(wg))
            for t in range(w.shape[1]):
                wt = wg[:, t]
                rt = self.resid[t]
                for p0 in range(0, total, step):
                    d = wt @ self.comp[:, p0: p0 + step]  # (g, tile * nd)
                    np.subtract(rt[p0: p0 + step], d, out=d)
                    np.multiply(d, d, out=d)
                    sq = d[:, 0::nd].copy()
                    for k in range(1, nd):  # strided adds: a reduction over a tiny axis is slow
                        sq += d[:, k::nd]
                    np.sqrt(sq, out=sq)
                    acc += sq.sum(axis=1, dtype=np.float64)
            out[g0: g0 + self.chunk] = acc / (w.shape[1] * (total // nd))
        out[~np.isfinite(out)] = np.inf
        return out

    def __call__(self, pred_w: np.ndarray) -> float:
        """Score of one ``(T, n)`` forecast."""
        return float(self.scores([pred_w])[0])


# ---------------------------------------------------------------------------- batched RNN grids
#: Forecasters that :func:`motionpredict.kernels.run_batched` reproduces (registry name ->
#: estimator).
BATCHED_RNN_METHODS: dict[str, str] = {
    "rtrl": "rtrl", "snap1": "snap1", "uoro": "uoro", "dni": "dni", "rnn-fixed": "fixed"}
DEVICES: tuple[str, ...] = ("cpu", "cuda")
RNN_BACKENDS: tuple[str, ...] = ("loop", "batched")


def _kernel_fixed() -> dict[str, Any]:
    """Values the batched kernels hold fixed (a grid point with another value runs in the loop),
    from their one home, :mod:`motionpredict.kernels.batched_rnn_state` (imported here, not at
    module level: it imports torch)."""
    from motionpredict.kernels.batched_rnn_state import DNI_LR, INIT_STD, UORO_EPS

    return {"init_std": INIT_STD, "eps": UORO_EPS, "lr_A": DNI_LR, "variant": "correct"}


def check_device(device: str) -> None:
    """Raise :class:`ConfigurationError` unless ``device`` is known and usable here."""
    if device not in DEVICES:
        raise ConfigurationError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigurationError(
                "device 'cuda' was requested but PyTorch sees no CUDA GPU on this machine; "
                "use device 'cpu' (rnn_backend 'batched' runs the batched twin on the CPU)")


@dataclass(frozen=True)
class RNNExecution:
    """How the grid search runs the online RNN forecasters (the numbers do not depend on it).

    Attributes
    ----------
    device
        ``"cpu"`` or ``"cuda"`` (where the batched RNNs step).
    rnn_backend
        ``"loop"`` (one forecaster per grid point, :func:`forecast_series`) or ``"batched"`` (the
        grid points sharing ``(k, q)`` run as one :func:`motionpredict.kernels.run_batched` call
        in float64); ``"cuda"`` always runs batched.
    seeds
        Seeds of the whole run: when the job's seed is among them, every seed runs in the same
        batched call and the forecasts are kept in this process for the other seeds' jobs.
    kernel_backend
        ``"auto"``, ``"torch"`` or ``"triton"`` (see :mod:`motionpredict.kernels.backend`).
    """

    device: str = "cpu"
    rnn_backend: str = "loop"
    seeds: tuple[int, ...] = ()
    kernel_backend: str = "auto"

    @property
    def batched(self) -> bool:
        """True when RNN grids run through the batched kernels."""
        return self.rnn_backend == "batched" or self.device == "cuda"

    @classmethod
    def from_mapping(cls, d: dict[str, Any] | RNNExecution | None) -> RNNExecution:
        """Build (and validate) from a job's ``{"device", "rnn_backend", "seeds"}`` record."""
        if d is None:
            return cls()
        if isinstance(d, RNNExecution):
            ex = d
        else:
            ex = cls(device=str(d.get("device", "cpu")),
                     rnn_backend=str(d.get("rnn_backend", "loop")),
                     seeds=tuple(int(s) for s in d.get("seeds", ())),
                     kernel_backend=str(d.get("kernel_backend", "auto")))
        if ex.rnn_backend not in RNN_BACKENDS:
            raise ConfigurationError(
                f"rnn_backend must be one of {RNN_BACKENDS}, got {ex.rnn_backend!r}")
        if ex.device not in DEVICES:
            raise ConfigurationError(f"device must be one of {DEVICES}, got {ex.device!r}")
        return ex

    def as_dict(self) -> dict[str, Any]:
        """JSON-able record."""
        return {"device": self.device, "rnn_backend": self.rnn_backend,
                "seeds": list(self.seeds), "kernel_backend": self.kernel_backend}


def batchable(method: str, params: dict[str, Any]) -> bool:
    """True when ``method`` with ``params`` is reproduced by the batched kernels."""
    if method not in BATCHED_RNN_METHODS:
        return False
    defaults = {hp.name: hp.default for hp in get(method).hyperparameters}
    full = {**defaults, **params}
    return all(full[name] == value for name, value in _kernel_fixed().items() if name in full)


_BATCH_MEMO: dict[str, tuple[np.ndarray, np.ndarray, str]] = {}
#: Bytes of forecasts kept for the other seeds' jobs (oldest dropped first).
BATCH_MEMO_BYTES = 512 * 2**20


def forecast_grid_batched(
    series: np.ndarray,
    *,
    method: str,
    horizon: int,
    mode: str,
    seeds: list[int],
    settings: list[dict[str, float]],
    k: int,
    q: int,
    splits: Splits,
    device: str = "cpu",
    kernel_backend: str = "auto",
) -> tuple[np.ndarray, np.ndarray, str]:
    """Run settings x seeds of one RNN method with one ``(k, q)`` as one batched job.

    The series is standardised exactly as :func:`forecast_series` does (statistics of the training
    window), the RNNs run in float64 (they agree with the single forecasters to ~1e-12) and the
    forecasts are brought back to the series' units.

    Parameters
    ----------
    series
        ``(T, p)`` raw series (PCA weights in mm, or marker coordinates in mm).
    method
        Registry name, one of :data:`BATCHED_RNN_METHODS`.
    horizon
        ``h`` in samples.
    mode
        ``"causal"`` or ``"reference"``.
    seeds
        Seeds (each setting runs once per seed).
    settings
        ``[{"eta": ..., "clip": ...}, ...]``.
    k, q
        History length (samples) and hidden units.
    splits
        The windows (the standardiser is fitted on ``splits.train``).
    device, kernel_backend
        Where and with which implementation the RNNs step.

    Returns
    -------
    predicted, resets, backend
        ``(n_settings, n_seeds, T, p)`` forecasts aligned to their target (NaN where none),
        ``(n_settings, n_seeds)`` divergence resets, and a line saying what ran.
    """
    import torch

    from motionpredict.kernels import run_batched

    key = content_hash("rnn-batch-v1", np.ascontiguousarray(series, dtype=np.float64), method,
                       int(horizon), mode, [int(s) for s in seeds], settings, int(k), int(q),
                       list(splits.train), device, kernel_backend)
    if key in _BATCH_MEMO:
        return _BATCH_MEMO[key]
    std = Standardizer(series[splits.train[0]: splits.train[1]])
    z = std.transform(series)
    # On the CPU one thread per job, as for BLAS in the loop (parallelism comes from the jobs;
    # several intra-op threads on busy cores were 10x slower at these sizes).
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)
    try:
        run = run_batched(z[None], estimator=BATCHED_RNN_METHODS[method], horizon=int(horizon),
                          n_hidden=int(q), history=int(k), settings=settings,
                          seeds=[int(s) for s in seeds], mode=mode,  # type: ignore[arg-type]
                          backend=kernel_backend, device=device,  # type: ignore[arg-type]
                          dtype=torch.float64, uoro_noise="numpy",
                          sync_every=1)  # resets as the loop does: same validation choice
    finally:
        torch.set_num_threads(threads)
    out = (std.inverse(run.predicted[0]), run.resets[0],
           f"{run.backend.name} ({run.backend.reason}) on {device}")
    if len(seeds) > 1:  # only the other seeds' jobs can reuse it
        while _BATCH_MEMO and (sum(v[0].nbytes for v in _BATCH_MEMO.values())
                               + out[0].nbytes > BATCH_MEMO_BYTES):
            del _BATCH_MEMO[next(iter(_BATCH_MEMO))]
        _BATCH_MEMO[key] = out
    return out


def grid_forecasts(
    series: np.ndarray,
    grid: list[dict[str, Any]],
    *,
    method: str,
    horizon: int,
    mode: str,
    seed: int,
    splits: Splits,
    execution: RNNExecution | None = None,
    frame_period_s: float | None = None,
) -> tuple[list[np.ndarray], str]:
    """Forecasts (series units, aligned to their target) of every grid point, in grid order.

    With ``execution.batched`` and an RNN method, the grid points that share every
    hyper-parameter but ``eta`` and ``clip`` (in practice: ``(k, q)``) run as one
    :func:`forecast_grid_batched` call; the others run one by one through
    :func:`forecast_series`.

    Returns
    -------
    forecasts, how
        One ``(T, p)`` array per grid point, and a line saying how they were computed.
    """
    ex = execution or RNNExecution()
    out: list[np.ndarray | None] = [None] * len(grid)
    how = "loop"
    if ex.batched and method in BATCHED_RNN_METHODS:
        check_device(ex.device)
        seeds = list(ex.seeds) if seed in ex.seeds else [int(seed)]
        groups: dict[str, list[int]] = {}
        for i, params in enumerate(grid):
            if batchable(method, params):
                rest = {n: v for n, v in params.items() if n not in ("eta", "clip")}
                groups.setdefault(json.dumps(rest, sort_keys=True, default=str), []).append(i)
        defaults = {hp.name: hp.default for hp in get(method).hyperparameters}
        for idx in groups.values():
            full = [{**defaults, **grid[i]} for i in idx]
            settings = [{"eta": float(p["eta"]), "clip": float(p["clip"])} for p in full]
            pred, _, how = forecast_grid_batched(
                series, method=method, horizon=horizon, mode=mode, seeds=seeds,
                settings=settings, k=int(full[0]["k"]), q=int(full[0]["q"]), splits=splits,
                device=ex.device, kernel_backend=ex.kernel_backend)
            for j, i in enumerate(idx):
                out[i] = pred[j, seeds.index(int(seed))]
        how = f"batched: {how}" if groups else "loop"
    for i, params in enumerate(grid):
        if out[i] is None:
            out[i], _, _ = forecast_series(series, method=method, horizon=horizon, mode=mode,
                                           seed=seed, params=params, splits=splits,
                                           frame_period_s=frame_period_s)
    return [o for o in out if o is not None], how


@dataclass
class JobResult:
    """Outcome of one job (chosen setting, validation score, test metrics, traces)."""

    chosen: dict[str, Any]
    validation_score: float
    validation_metric: str
    metrics: dict[str, float]
    traces: dict[str, Any]
    grid_size: int
    label: str
    execution: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able dictionary."""
        return asdict(self)


def evaluate_cine(
    data: CineData,
    *,
    method: str,
    horizon_steps: int,
    mode: str,
    seed: int,
    grid: list[dict[str, Any]],
    n_components: list[int],
    triplet_count: int = 3,
    rnn: RNNExecution | dict[str, Any] | None = None,
    cache: ArrayCache | None = None,
) -> tuple[JobResult, dict[str, np.ndarray]]:
    """Grid search on validation, then test-window metrics, for a cine or phase sequence.

    ``rnn`` (an :class:`RNNExecution` or its dict) chooses how RNN grids run; the chosen setting
    is always run again by a single forecaster, so test metrics and stage timings are those of
    the deployed forecaster. ``cache`` keeps the PCA fit on disk (see :func:`fit_pca`).

    Returns
    -------
    result, artifacts
        The job result, and arrays for the report (``triplet_t``, ``triplet_acquired``,
        ``triplet_predicted``, ``roi``).
    """
    from motionpredict.registration import warp_forward

    sp = data.splits
    h = int(horizon_steps)
    val = scored_window(sp.validation, sp, method)
    ex = RNNExecution.from_mapping(rnn)
    best: tuple[float, int, dict[str, Any]] | None = None
    t_grid = time.perf_counter()
    how = "loop"
    fields_key = training_fields_key(data.fields_mm, sp.train)
    single = len(grid) * len(n_components) == 1  # nothing to choose: score the one run below
    if single:
        best = (float("nan"), int(n_components[0]), grid[0])
        how = "single setting: nothing searched"
    for n in n_components if not single else ():
        model = fit_pca(data.fields_mm, sp.train, n, cache, fields_key)
        w = _weights(data, model, fields_key, n)
        preds, how = grid_forecasts(w, grid, method=method, horizon=h, mode=mode, seed=seed,
                                    splits=sp, execution=ex,
                                    frame_period_s=data.sequence.frame_period)
        scores = ValidationScorer(data, model, val).scores(preds)
        for params, score in zip(grid, scores, strict=True):
            if best is None or score < best[0]:
                best = (float(score), n, params)
    assert best is not None
    grid_s = time.perf_counter() - t_grid
    score, n, params = best
    model = fit_pca(data.fields_mm, sp.train, n, cache, fields_key)
    w = _weights(data, model, fields_key, n)
    guarded = np.zeros(len(w), dtype=bool)
    pred, step_ms, n_events = forecast_series(w, method=method, horizon=h, mode=mode, seed=seed,
                                              params=params, splits=sp,
                                              frame_period_s=data.sequence.frame_period,
                                              guarded_out=guarded)
    if single:
        score = ValidationScorer(data, model, val)(pred)
    te = np.arange(*sp.test)
    lk = data.fields_mm[te]
    spacing = np.asarray(data.sequence.spacing, dtype=np.float32)
    ref = data.sequence.frames[data.reference_index]
    pf = np.empty_like(lk)
    frames = np.empty((len(te), *data.sequence.shape), np.float32)
    t_proj, t_rec, t_warp = (np.empty(len(te)) for _ in range(3))
    for i, t in enumerate(te):
        t0 = time.perf_counter()
        model.project(data.fields_mm[t - h][None])
        t_proj[i] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        pf[i] = np.asarray(model.reconstruct(pred[t][None])[0], dtype=np.float32)
        t_rec[i] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        frames[i] = warp_forward(ref, np.moveaxis(pf[i] / spacing, -1, 0), sigma=SPLAT_SIGMA_PX)
        t_warp[i] = (time.perf_counter() - t0) * 1e3
    metrics = M.field_metrics(pf, lk, roi=data.roi, prefix="dvf")
    rebuilt = np.asarray(model.reconstruct(w[te]), dtype=np.float32)
    metrics.update(M.field_metrics(rebuilt, lk, roi=data.roi, prefix="pca_truncation"))
    if data.true_fields_mm is not None:
        tf = data.true_fields_mm[te]
        metrics.update(M.field_metrics(pf, tf, roi=data.roi, prefix="dvf_true"))
        metrics.update(M.field_metrics(lk, tf, roi=data.roi, prefix="lk_vs_true"))
    acquired = data.sequence.frames[te]
    rng = true_range(data.sequence)
    metrics.update(M.image_metrics(frames, acquired, true_range=rng))
    if data.roi is not None:
        metrics.update({f"roi_{k}": v for k, v in
                        M.image_metrics(frames, acquired, true_range=rng, mask=data.roi).items()})
    stages = {"register": data.register_ms[te - h], "project": t_proj,
              "forecast": step_ms[te - h], "reconstruct": t_rec, "warp": t_warp}
    metrics.update(M.stage_summary(stages))
    metrics["divergence_resets"] = float(n_events)
    metrics.update(guard_summary(guarded[te]))
    metrics["n_test"] = float(len(te))
    per_frame, _ = M.dvf_error_mm(pf, lk)
    lo = sp.validation[0]
    traces = {
        "t": list(range(lo, sp.test[1])),
        "time_s": data.sequence.times[lo: sp.test[1]].tolist(),
        "true": w[lo: sp.test[1]].tolist(),
        "predicted": pred[lo: sp.test[1]].tolist(),
        "test_dvf_mean_mm": per_frame.tolist(),
        "breathing": w[te, 0].tolist(),
        "stage_ms": {k: np.asarray(v).tolist() for k, v in stages.items()},
    }
    k = max(1, min(int(triplet_count), len(te)))
    pick = np.unique(np.linspace(0, len(te) - 1, k).round().astype(int))
    artifacts = {"triplet_t": te[pick], "triplet_acquired": acquired[pick],
                 "triplet_predicted": frames[pick]}
    if data.roi is not None:
        artifacts["roi"] = data.roi
    res = JobResult(
        chosen={"n_components": n, "params": params}, validation_score=score,
        validation_metric="mean DVF error (mm), whole image", metrics=metrics, traces=traces,
        grid_size=len(grid) * len(n_components), label=_label(mode),
        execution={**ex.as_dict(), "grid": how, "grid_search_s": grid_s})
    return res, artifacts


def evaluate_markers(
    traj: PointTrajectories,
    splits: Splits,
    *,
    method: str,
    horizon_steps: int,
    mode: str,
    seed: int,
    grid: list[dict[str, Any]],
    rnn: RNNExecution | dict[str, Any] | None = None,
) -> JobResult:
    """Grid search on validation (RMSE, mm), then test-window marker metrics.

    ``rnn`` chooses how RNN grids run (see :class:`RNNExecution`); the numbers do not depend on
    it.
    """
    series = traj.as_series()
    h = int(horizon_steps)
    val = scored_window(splits.validation, splits, method)
    ex = RNNExecution.from_mapping(rnn)
    best: tuple[float, dict[str, Any]] | None = None
    t_grid = time.perf_counter()
    how = "single setting: nothing searched"
    if len(grid) > 1:
        preds, how = grid_forecasts(series, grid, method=method, horizon=h, mode=mode,
                                    seed=seed, splits=splits, execution=ex,
                                    frame_period_s=traj.sample_period)
        for params, pred in zip(grid, preds, strict=True):
            score = M.marker_metrics(pred[val[0]: val[1]], series[val[0]: val[1]])["rmse_mm"]
            if best is None or score < best[0]:
                best = (score, params)
        assert best is not None
        score, params = best
    else:  # one setting: its single run gives both the validation score and the test metrics
        params = grid[0]
    grid_s = time.perf_counter() - t_grid
    guarded = np.zeros(len(series), dtype=bool)
    pred, step_ms, n_events = forecast_series(series, method=method, horizon=h, mode=mode,
                                              seed=seed, params=params, splits=splits,
                                              frame_period_s=traj.sample_period,
                                              guarded_out=guarded)
    if len(grid) == 1:
        score = M.marker_metrics(pred[val[0]: val[1]], series[val[0]: val[1]])["rmse_mm"]
    te = slice(*splits.test)
    metrics = M.marker_metrics(pred[te], series[te])
    no_pred = series[splits.test[0] - h: splits.test[1] - h]
    metrics["no_prediction_rmse_mm"] = M.marker_metrics(no_pred, series[te])["rmse_mm"]
    stages = {"forecast": step_ms[splits.test[0] - h: splits.test[1] - h]}
    metrics.update(M.stage_summary(stages))
    metrics["divergence_resets"] = float(n_events)
    metrics.update(guard_summary(guarded[te]))
    metrics["n_test"] = float(splits.test[1] - splits.test[0])
    e = np.linalg.norm((pred[te] - series[te]).reshape(-1, traj.n_points, 3), axis=2).mean(axis=1)
    lo = splits.validation[0]
    traces = {
        "t": list(range(lo, splits.test[1])),
        "time_s": traj.times[lo: splits.test[1]].tolist(),
        "true": series[lo: splits.test[1]].tolist(),
        "predicted": pred[lo: splits.test[1]].tolist(),
        "test_error_mm": e.tolist(),
        "breathing": series[te, 2::3].mean(axis=1).tolist(),
        "stage_ms": {k: np.asarray(v).tolist() for k, v in stages.items()},
    }
    return JobResult(chosen={"params": params}, validation_score=score,
                     validation_metric="RMSE of positions (mm)", metrics=metrics, traces=traces,
                     grid_size=len(grid), label=_label(mode),
                     execution={**ex.as_dict(), "grid": how, "grid_search_s": grid_s})


def _label(mode: str) -> str:
    return ("reference mode (published look-ahead: learns from targets before they are acquired)"
            if mode == "reference" else "causal")


def steps_for(horizon_s: float, period_s: float, round_horizon: bool) -> int:
    """Horizon in frames (see :func:`motionpredict.pipeline.horizon_to_steps`)."""
    return horizon_to_steps(horizon_s, period_s, round_horizon=round_horizon)
