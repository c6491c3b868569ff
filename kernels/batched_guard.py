"""The plausibility guard of :meth:`~motionpredict.forecasters.base.Forecaster.step`, batched.

Same rule and same numbers as the single forecasters (see the module docstring of
:mod:`motionpredict.forecasters.base`): per RNN ``b``, in standardised units, the forecast issued
at ``t`` is replaced by ``y_t`` when it leaves the running envelope ``[lo - M, hi + M]``, when
the exponentially weighted MSE of the RNN's matured forecasts exceeds ``R`` times the fallback's
(after ``W`` scored forecasts), while the RNN is on probation after a reset, or when it diverged;
an RNN whose error exceeds ``R_reset`` times the fallback's is marked for re-initialisation (the
same ``pending`` path as a divergence, so its next seed is ``seed + resets`` as for the
forecaster). Every tensor stays on the device: one step is a handful of element-wise operations
and no host synchronisation.

Shapes legend: ``B`` batch, ``S`` queue slots (``h``), ``P`` features.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from motionpredict.forecasters.base import GUARD_FLOOR, REFERENCE_BOUND, GuardSettings

if TYPE_CHECKING:  # the state module imports this one
    from motionpredict.kernels.batched_rnn_state import TensorOptions


@dataclass
class BatchedGuard:
    """Device state of the guard of ``B`` RNNs.

    Attributes
    ----------
    settings
        Margin ``M``, ratios ``R``/``R_reset``, window ``W`` (one set for the batch).
    active
        Whether the envelope and error-ratio tests run (causal mode and enabled); otherwise only
        divergence fallbacks are counted.
    bounded
        Reference mode with the guard enabled: only the bound of
        :data:`~motionpredict.forecasters.base.REFERENCE_BOUND` beyond the envelope is applied.
    lo, hi
        ``(B, P)`` running min/max of the samples seen.
    raw, fallback
        ``(S, B, P)`` raw forecast and fallback (``y_t``) issued at the step of each slot.
    valid
        ``(S, B)`` bool: the slot holds a forecast of the current learner to score.
    err_learner, err_fallback
        ``(B,)`` exponentially weighted MSEs ``E_L`` and ``E_F``.
    scored
        ``(B,)`` int64 forecasts scored since the start or the last reset.
    probation
        ``(B,)`` bool: reset, fallback emitted until ``W`` forecasts are scored.
    guarded
        ``(B,)`` int64 count of forecasts replaced.
    last
        ``(B,)`` bool: the forecast of the last step was replaced.
    """

    settings: GuardSettings
    active: bool
    bounded: bool
    lo: torch.Tensor
    hi: torch.Tensor
    raw: torch.Tensor
    fallback: torch.Tensor
    valid: torch.Tensor
    err_learner: torch.Tensor
    err_fallback: torch.Tensor
    scored: torch.Tensor
    probation: torch.Tensor
    guarded: torch.Tensor
    last: torch.Tensor


def new_guard(
    settings: GuardSettings, *, active: bool, batch: int, slots: int, features: int,
    device: torch.device, dtype: torch.dtype, bounded: bool = False,
) -> BatchedGuard:
    """Allocate the guard state of ``batch`` RNNs (nothing seen yet)."""
    kw: TensorOptions = {"device": device, "dtype": dtype}
    return BatchedGuard(
        settings=settings,
        active=bool(active),
        bounded=bool(bounded) and not bool(active),
        lo=torch.full((batch, features), float("inf"), **kw),
        hi=torch.full((batch, features), float("-inf"), **kw),
        raw=torch.zeros((slots, batch, features), **kw),
        fallback=torch.zeros((slots, batch, features), **kw),
        valid=torch.zeros((slots, batch), dtype=torch.bool, device=device),
        err_learner=torch.zeros(batch, **kw),
        err_fallback=torch.zeros(batch, **kw),
        scored=torch.zeros(batch, dtype=torch.int64, device=device),
        probation=torch.zeros(batch, dtype=torch.bool, device=device),
        guarded=torch.zeros(batch, dtype=torch.int64, device=device),
        last=torch.zeros(batch, dtype=torch.bool, device=device),
    )


def guard_step(
    g: BatchedGuard,
    slot: int,
    y: torch.Tensor,
    pred: torch.Tensor,
    diverged: torch.Tensor,
    act: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply the guard to the raw forecasts ``pred`` (``(B, P)``) issued with ``y`` = ``y_t``.

    Parameters
    ----------
    g
        Guard state, updated in place.
    slot
        ``t % S``: the slot of the forecast issued at ``t - h`` (scored now) and of ``t``.
    y
        ``(B, P)`` current samples.
    pred
        ``(B, P)`` raw forecasts of the RNNs.
    diverged
        ``(B,)`` bool: rows that diverged (now or earlier, waiting for their reset).
    act
        ``(B,)`` bool: rows inside their series.

    Returns
    -------
    emitted : torch.Tensor
        ``(B, P)`` forecasts after the guard.
    reset : torch.Tensor
        ``(B,)`` bool: rows the error-ratio test marks for re-initialisation.
    """
    sub = act & diverged
    reset = torch.zeros_like(sub)
    if g.active:
        s = g.settings
        torch.where(act[:, None], torch.minimum(g.lo, y), g.lo, out=g.lo)
        torch.where(act[:, None], torch.maximum(g.hi, y), g.hi, out=g.hi)
        valid = g.valid[slot] & act
        a = 1.0 / s.window
        d_l = ((g.raw[slot] - y) ** 2).mean(dim=1)
        d_f = ((g.fallback[slot] - y) ** 2).mean(dim=1)
        g.err_learner.copy_(torch.where(valid, g.err_learner + a * (d_l - g.err_learner),
                                        g.err_learner))
        g.err_fallback.copy_(torch.where(valid, g.err_fallback + a * (d_f - g.err_fallback),
                                         g.err_fallback))
        g.scored += valid.to(torch.int64)
        g.probation &= g.scored < s.window
        warm = g.scored >= s.window
        healthy = act & ~diverged
        reset = healthy & warm & (g.err_learner > s.reset_ratio * g.err_fallback + GUARD_FLOOR)
        envelope = ((pred < g.lo - s.margin) | (pred > g.hi + s.margin)).any(dim=1)
        ratio = warm & (g.err_learner > s.ratio * g.err_fallback + GUARD_FLOOR)
        sub = sub | (healthy & (reset | envelope | g.probation | ratio))
        restart = act & (diverged | reset)
        g.valid &= ~restart[None, :]
        zero = torch.zeros_like(g.err_learner)
        g.err_learner.copy_(torch.where(restart, zero, g.err_learner))
        g.err_fallback.copy_(torch.where(restart, zero, g.err_fallback))
        g.scored.masked_fill_(restart, 0)
        g.probation |= restart
        g.raw[slot] = torch.where(act[:, None], pred, g.raw[slot])
        g.fallback[slot] = torch.where(act[:, None], y, g.fallback[slot])
        g.valid[slot] = torch.where(act, ~restart, g.valid[slot])
    elif g.bounded:
        torch.where(act[:, None], torch.minimum(g.lo, y), g.lo, out=g.lo)
        torch.where(act[:, None], torch.maximum(g.hi, y), g.hi, out=g.hi)
        far = ((pred < g.lo - REFERENCE_BOUND) | (pred > g.hi + REFERENCE_BOUND)).any(dim=1)
        sub = sub | (act & ~diverged & far)
    g.guarded += sub.to(torch.int64)
    g.last.copy_(sub)
    return torch.where(sub[:, None], y, pred), reset
