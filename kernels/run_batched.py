"""Run a whole grid of online RNNs (series x settings x seeds, one horizon) as one batched job.

Shapes legend: B batch (= n_series * n_settings * n_seeds), T time (samples), P features,
Q hidden, K history.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.forecasters.base import GuardSettings
from motionpredict.kernels.backend import Backend, BackendChoice, resolve_backend
from motionpredict.kernels.batched_rnn_state import (
    ESTIMATORS,
    BatchedRNNConfig,
    Estimator,
    KernelMode,
    new_state,
)
from motionpredict.kernels.batched_rnn_torch import flush_resets

#: Forecaster registry names accepted for the estimators.
_ALIASES = {"rnn-fixed": "fixed", "snap-1": "snap1"}


@dataclass
class BatchedRun:
    """Forecasts of a batched grid run.

    Attributes
    ----------
    predicted
        ``(n_series, n_settings, n_seeds, T_max, P)`` forecasts aligned to the time they are *for*
        (as :class:`~motionpredict.forecasters.OnlineRun`): ``predicted[..., t, :]`` was issued at
        ``t - h``; NaN for ``t < h`` and for ``t >= length`` of a shorter series.
    resets
        ``(n_series, n_settings, n_seeds)`` number of divergence resets of each RNN.
    settings
        The settings, in grid order (``eta``, ``clip``).
    seeds
        The seeds, in grid order.
    mode
        ``"causal"`` or ``"reference"`` (reference results must be labelled as such).
    backend
        What ran, and why.
    seconds
        Wall time of the stepping loop (s).
    guarded
        ``(n_series, n_settings, n_seeds, T_max)`` bool aligned like ``predicted``: True where
        the forecast for ``t`` was the plausibility guard's fallback ``y_{t-h}`` (as
        :attr:`~motionpredict.forecasters.OnlineRun.guarded`).
    """

    predicted: np.ndarray
    resets: np.ndarray
    settings: list[dict[str, float]]
    seeds: list[int]
    mode: KernelMode
    backend: BackendChoice
    seconds: float
    guarded: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def n_guarded(self) -> np.ndarray:
        """``(n_series, n_settings, n_seeds)`` number of forecasts replaced by the guard."""
        return np.count_nonzero(self.guarded, axis=-1)


def _as_series(series: np.ndarray | Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack series of possibly different lengths: ``(n, T_max, P)`` (zero padded), lengths."""
    if isinstance(series, np.ndarray) and series.ndim == 3:
        arrays = list(series)
    elif isinstance(series, np.ndarray) and series.ndim == 2:
        arrays = [series]
    else:
        arrays = [np.asarray(s, dtype=np.float64) for s in series]
    if not arrays:
        raise ValidationError("no series given")
    p = {a.shape[1] if a.ndim == 2 else -1 for a in arrays}
    if len(p) != 1 or -1 in p:
        raise ValidationError(
            f"every series must be (T, P) with the same P, got {[a.shape for a in arrays]}"
        )
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    if np.any(lengths < 1):
        raise ValidationError("every series needs at least one sample")
    out = np.zeros((len(arrays), int(lengths.max()), p.pop()))
    for i, a in enumerate(arrays):
        if not np.all(np.isfinite(a)):
            raise ValidationError(f"series {i} contains NaN or Inf")
        out[i, : a.shape[0]] = a
    return out, lengths


def run_batched(
    series: np.ndarray | Sequence[np.ndarray],
    *,
    estimator: Estimator | str,
    horizon: int,
    n_hidden: int,
    history: int,
    settings: Sequence[Mapping[str, Any]],
    seeds: Sequence[int],
    mode: KernelMode = "causal",
    backend: Backend = "auto",
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    uoro_noise: str = "counter",
    uoro_variant: str = "correct",
    sync_every: int | None = None,
    fused: bool = False,
    guard: GuardSettings | bool = True,
) -> BatchedRun:
    """Run every (series, setting, seed) RNN over its series, one batched step per sample.

    Parameters
    ----------
    series
        ``(n_series, T, P)`` array, or a list of ``(T_i, P)`` arrays of different lengths (the
        shorter ones are masked at their end); standardised samples, as for
        :func:`~motionpredict.forecasters.run_online`.
    estimator
        ``"rtrl"``, ``"uoro"``, ``"snap1"``, ``"dni"`` or ``"fixed"`` (``"rnn-fixed"`` accepted).
    horizon
        ``h`` in samples.
    n_hidden, history
        ``Q`` and ``K``; they set the tensor shapes, so one call runs one ``(K, Q)`` pair (group
        a grid over ``k`` and ``q`` into one call per pair).
    settings
        Per-setting values: ``eta`` (learning rate, required) and ``clip`` (default 100).
    seeds
        Seeds; each setting runs once per seed.
    mode
        ``"causal"`` (default) or ``"reference"``.
    backend
        ``"torch"``, ``"triton"`` or ``"auto"`` (see :mod:`motionpredict.kernels.backend`).
    device, dtype
        Where and in which precision the RNNs run (float32 on GPUs; float64 reproduces the
        single-RNN forecasters to rounding).
    uoro_noise
        ``"counter"`` or ``"numpy"`` (the forecaster's own generator; see
        :func:`~motionpredict.kernels.batched_rnn_state.new_state`).
    uoro_variant
        ``"correct"`` or ``"as-coded"`` (the reference code's pairing, to reproduce published
        numbers only; runs on the PyTorch twin).
    sync_every
        Steps between host synchronisations of the divergence check (see
        :func:`~motionpredict.kernels.batched_rnn_torch.rnn_step_torch`). ``None``: 1 on a CPU
        (every reset in the step that finds it, exactly as the single forecasters), 16 on CUDA (a
        diverged RNN forecasts its last sample for up to 15 steps before it restarts, and the host
        never waits for the device inside the time loop).

    fused
        On the Triton kernels, run SnAp-1's causal step as one launch
        (:func:`~motionpredict.kernels.batched_rnn_triton.rnn_step_triton_fused`: W read and
        written once per step); other estimators and modes are unaffected. Off by default until
        it has been timed on a GPU.
    guard
        The plausibility guard (default on, the forecasters' default settings; see
        :func:`~motionpredict.kernels.batched_rnn_state.new_state`).

    Returns
    -------
    BatchedRun
        Forecasts aligned to their target time, resets, and what ran.
    """
    est = _ALIASES.get(str(estimator), str(estimator))
    if est not in ESTIMATORS:
        raise ConfigurationError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    data, lengths = _as_series(series)
    n_series, t_max, p = data.shape
    settings = [dict(s) for s in settings]
    if not settings or not seeds:
        raise ConfigurationError("at least one setting and one seed are needed")
    for s in settings:
        unknown = set(s) - {"eta", "clip"}
        if "eta" not in s or unknown:
            raise ConfigurationError(
                f"each setting needs 'eta' and may have 'clip'; got {sorted(s)}"
            )
    config = BatchedRNNConfig(
        estimator=est,  # type: ignore[arg-type]
        n_hidden=int(n_hidden),
        history=int(history),
        n_features=p,
        horizon=int(horizon),
        mode=mode,
        uoro_variant=uoro_variant,  # type: ignore[arg-type]
    )
    choice = resolve_backend(
        backend, device=device, estimator="uoro-as-coded" if config.as_coded else est
    )
    step = choice.step_function()
    if fused and choice.name == "triton":
        from motionpredict.kernels.batched_rnn_triton import rnn_step_triton_fused

        step = rnn_step_triton_fused
    if sync_every is None:
        sync_every = 16 if torch.device(device).type == "cuda" else 1
    if int(sync_every) < 1:
        raise ConfigurationError(f"sync_every must be >= 1, got {sync_every}")
    grid = list(itertools.product(range(n_series), range(len(settings)), range(len(seeds))))
    row_series = np.array([g[0] for g in grid])
    state = new_state(
        config,
        seeds=[int(seeds[g[2]]) for g in grid],
        lr=[float(settings[g[1]]["eta"]) for g in grid],
        clip=[float(settings[g[1]].get("clip", 100.0)) for g in grid],
        device=device,
        dtype=dtype,
        uoro_noise=uoro_noise,  # type: ignore[arg-type]
        guard=guard,
    )
    assert state.guard is not None
    b, h = len(grid), config.horizon
    dev = state.w.device
    data_dev = torch.as_tensor(data, device=dev, dtype=dtype)
    rows_dev = torch.as_tensor(row_series, device=dev)
    row_len = lengths[row_series]
    row_len_dev = torch.as_tensor(row_len, device=dev)
    out = torch.full((b, t_max + h, p), float("nan"), device=dev, dtype=dtype)
    guarded = torch.zeros((b, t_max + h), device=dev, dtype=torch.bool)
    all_equal = bool(np.all(row_len == t_max))
    t0 = time.perf_counter()
    for t in range(t_max):
        y = data_dev[rows_dev, t]
        active = None if (all_equal or t < row_len.min()) else (row_len_dev > t)
        look = has = None
        if mode == "reference" and t + h < t_max:
            look = data_dev[rows_dev, t + h]
            has = row_len_dev > t + h
        out[:, t + h] = step(
            state, y, lookahead=look, has_lookahead=has, active=active, sync_every=int(sync_every)
        )
        guarded[:, t + h] = state.guard.last
    flush_resets(state)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = time.perf_counter() - t0
    pred = out[:, :t_max].to("cpu", torch.float64).numpy()
    flags = guarded[:, :t_max].cpu().numpy()
    for i, n in enumerate(row_len):
        pred[i, n:] = np.nan
        flags[i, n:] = False
    shape = (n_series, len(settings), len(seeds))
    return BatchedRun(
        predicted=pred.reshape(*shape, t_max, p),
        resets=state.resets.cpu().numpy().reshape(shape),
        settings=[{"eta": float(s["eta"]), "clip": float(s.get("clip", 100.0))} for s in settings],
        seeds=[int(s) for s in seeds],
        mode=mode,
        backend=choice,
        seconds=seconds,
        guarded=flags.reshape(*shape, t_max),
    )
