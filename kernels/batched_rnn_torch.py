"""Plain-PyTorch batched step of B online-learning RNNs: the CPU path and the oracle of the
Triton kernels.

Shapes legend: B batch, Q hidden, M inputs (1 + K*P), P outputs, K history, S queue slots,
N = Q + M (see :mod:`motionpredict.kernels.batched_rnn_state`).

One step at time ``t`` (slot ``s = t mod S``, previous slot ``s' = (t - 1) mod S``):

causal
    1. learn: where the RNN has received at least ``h`` samples, update its weights with the
       loss of the forecast issued at ``t - h`` (slot ``s``) against ``y_t``;
    2. forward: ``z = [h_{t-1}; x_t]``, ``h_t = tanh(W z)``, ``yhat_t = W_c h_t``, propagate the
       estimator's influence (from slot ``s'``) and store everything in slot ``s``.
reference
    1. forward as above (S = 1); 2. learn from the lookahead target ``y_{t+h}`` with the quantities
    just computed (the published, non-causal behaviour).

Learning (per RNN, ``e = yhat - y_target``, ``delta = W_c^T e``)::

    g_Wc = e h^T
    RTRL    g_W[i, j] = sum_n delta_n J[n, i, j]
            J_t = diag(1 - h_t^2) (W_a J_{t-1} + I (x) z_t)
    SnAp-1  g_W[i, j] = delta_i J[i, j]
            J_t[i, j] = (1 - h_{t,i}^2) (W_a[i, i] J_{t-1}[i, j] + z_t[j])
    UORO    g_W = (delta . h~) theta~   (Tallec & Ollivier 2017, exact tangent product)
    DNI     g_W[i, j] = c_i (1 - h_i^2) z_j,   c = x~ A, credit model A trained online
    fixed   g_W = 0
    each of g_Wa, g_Wb, g_Wc scaled by min(1, clip / ||g||_F), then W -= eta g.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from motionpredict.kernels.batched_guard import guard_step
from motionpredict.kernels.batched_rnn_state import (
    DNI_LR,
    UORO_EPS,
    BatchedRNNState,
    reinitialise,
)

#: A prediction whose magnitude exceeds this (in standard deviations) counts as divergence.
EXPLODED = 1e6
#: A weight matrix whose Frobenius norm exceeds this counts as divergence.
DIVERGENCE_NORM = 1e4

ForwardFn = Callable[[BatchedRNNState, torch.Tensor, int, int, "torch.Tensor | None"], None]
UpdateFn = Callable[[BatchedRNNState, int, torch.Tensor, torch.Tensor], None]
#: Fused causal step: (state, slot, prev slot, target y_t, learn mask, input x_t).
FusedFn = Callable[[BatchedRNNState, int, int, torch.Tensor, torch.Tensor, torch.Tensor], None]

_MASK32 = 0xFFFFFFFF


def counter_signs(
    seeds: torch.Tensor, t: int, n_hidden: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Random signs ``(B, Q)`` in {-1, +1} from a counter hash of (seed, step, unit).

    Deterministic and identical on every device (integer arithmetic only), so the Triton path and
    this twin see the same signs without a host round trip.
    """
    unit = torch.arange(n_hidden, device=seeds.device, dtype=torch.int64)
    x = (seeds[:, None] & _MASK32) * 0x9E3779B1
    x = (x + (int(t) & _MASK32) * 0x85EBCA77 + unit[None, :] * 0xC2B2AE3D) & _MASK32
    for mult, shift in ((0x7FEB352D, 15), (0x846CA68B, 16)):
        x = x ^ (x >> 16)
        x = (x * mult) & _MASK32
        x = x ^ (x >> shift)
    return (1 - 2 * (x & 1)).to(dtype)


def uoro_signs(state: BatchedRNNState) -> torch.Tensor:
    """UORO's random signs ``nu`` ``(B, Q)`` for the current step (``state.t`` already set)."""
    q = state.config.n_hidden
    if state.uoro_rngs is not None:
        nu = np.stack([rng.integers(0, 2, size=q) * 2.0 - 1.0 for rng in state.uoro_rngs])
        return torch.as_tensor(nu, device=state.w.device, dtype=state.w.dtype)
    return counter_signs(state.seeds + state.resets, state.t, q, state.w.dtype)


def push_history(state: BatchedRNNState, y: torch.Tensor, active: torch.Tensor | None) -> None:
    """Append ``y (B, P)`` to the history; an RNN with no sample since its (re)initialisation
    gets its history filled with ``y`` (as the forecaster's input buffer)."""
    fresh = (state.steps == 0)[:, None, None]
    shifted = torch.cat([state.history[:, 1:], y[:, None, :]], dim=1)
    new = torch.where(fresh, y[:, None, :].expand_as(state.history), shifted)
    if active is not None:
        new = torch.where(active[:, None, None], new, state.history)
    state.history.copy_(new)


def input_vector(state: BatchedRNNState) -> torch.Tensor:
    """``x_t = [1, y_{t-K+1}, ..., y_t]`` ``(B, M)``."""
    b = state.batch
    ones = torch.ones((b, 1), device=state.w.device, dtype=state.w.dtype)
    return torch.cat([ones, state.history.reshape(b, -1)], dim=1)


def _clip_scale(sq_norm: torch.Tensor, clip: torch.Tensor) -> torch.Tensor:
    """``min(1, clip / ||g||)`` from the squared norm (1 where the gradient is zero)."""
    norm = torch.sqrt(sq_norm)
    return torch.where(norm > clip, clip / norm, torch.ones_like(norm))


def forward_torch(
    state: BatchedRNNState,
    x: torch.Tensor,
    prev: int,
    new: int,
    signs: torch.Tensor | None,
) -> None:
    """Forward pass and influence propagation; writes slot ``new`` from slot ``prev``.

    Parameters
    ----------
    state
        Batched state (modified in place).
    x
        ``(B, M)`` input vectors.
    prev, new
        Slot holding ``h_{t-1}`` and the running influence; slot to write.
    signs
        ``(B, Q)`` UORO signs (ignored by the other estimators).
    """
    cfg = state.config
    q = cfg.n_hidden
    z = torch.cat([state.slot_h[prev], x], dim=1)  # (B, N)
    pre = torch.matmul(state.w, z[:, :, None])[:, :, 0]  # (B, Q) pre-activation
    h = torch.tanh(pre)
    d = 1.0 - h * h
    yhat = torch.matmul(state.wc, h[:, :, None])[:, :, 0]  # (B, P)
    est = cfg.estimator
    wa = state.w[:, :, :q]
    if est == "snap1":
        diag = torch.diagonal(wa, dim1=1, dim2=2)  # (B, Q)
        j = state.slot_infl[new]
        torch.mul(state.slot_infl[prev], diag[:, :, None], out=j)
        j.add_(z[:, None, :]).mul_(d[:, :, None])
    elif est == "rtrl":
        b, n = state.batch, cfg.n_cols
        jn = torch.matmul(wa, state.infl.reshape(b, q, q * n)).reshape(b, q, q, n)
        torch.diagonal(jn, dim1=1, dim2=2).add_(z[:, :, None])
        jn.mul_(d[:, :, None, None])
        state.infl.copy_(jn)
        if cfg.mode == "causal":
            torch.matmul(state.wc, state.infl.reshape(b, q, q * n), out=state.slot_infl[new])
    elif est == "dni" and cfg.mode == "causal":
        state.slot_infl[new].copy_(wa)
    elif est == "uoro":
        assert signs is not None
        size = q * (1 + cfg.n_cols)
        infl = state.slot_infl[prev][:, :size]
        out = state.slot_infl[new]
        if cfg.as_coded:  # keep the previous estimate for the update (copy before overwriting)
            out[:, size:] = infl
            infl = out[:, size:]
        ht, wt = infl[:, :q], infl[:, q:]
        a1 = torch.matmul(wa, ht[:, :, None])[:, :, 0]
        if cfg.as_coded:  # finite-difference tangent of the reference code
            a1 = (torch.tanh(pre + UORO_EPS * a1) - h) / UORO_EPS
        else:
            a1 = d * a1
        nd = signs * d
        eps = UORO_EPS
        norm_wt = torch.linalg.vector_norm(wt, dim=1)
        norm_b1 = torch.linalg.vector_norm(nd, dim=1) * torch.linalg.vector_norm(z, dim=1)
        rho0 = torch.sqrt(norm_wt / (torch.linalg.vector_norm(a1, dim=1) + eps)) + eps
        rho1 = torch.sqrt(norm_b1 / (torch.linalg.vector_norm(signs, dim=1) + eps)) + eps
        wt_new = wt / rho0[:, None] + (
            (nd / rho1[:, None])[:, :, None] * z[:, None, :]
        ).reshape(state.batch, -1)
        out[:, q:size] = wt_new
        out[:, :q] = rho0[:, None] * a1 + rho1[:, None] * signs
        if cfg.as_coded:  # the reference code forecasts from the state before the new input
            yhat = torch.matmul(state.wc, z[:, :q, None])[:, :, 0]
    state.slot_h[new] = h
    state.slot_z[new] = z
    state.slot_yhat[new] = yhat
    if cfg.mode == "causal":
        state.slot_wc[new] = state.wc


def update_torch(
    state: BatchedRNNState, slot: int, target: torch.Tensor, mask: torch.Tensor
) -> None:
    """SGD update of every RNN where ``mask`` holds, from the quantities of ``slot``.

    Parameters
    ----------
    state
        Batched state (weights, and the DNI credit model, modified in place).
    slot
        Slot whose forecast is scored.
    target
        ``(B, P)`` target of that forecast.
    mask
        ``(B,)`` bool: which RNNs learn now.
    """
    cfg = state.config
    q = cfg.n_hidden
    h, z, yhat = state.slot_h[slot], state.slot_z[slot], state.slot_yhat[slot]
    if cfg.as_coded:  # the forecast was W_c h_{t-1}
        h = z[:, :q]
    causal = cfg.mode == "causal"
    e = yhat - target  # (B, P)
    wc_rec = state.slot_wc[slot] if causal else state.wc  # the W_c that issued the forecast
    delta = torch.matmul(wc_rec.transpose(1, 2), e[:, :, None])[:, :, 0]  # (B, Q) = dL/dh
    lr = torch.where(mask, state.lr, torch.zeros_like(state.lr))
    est = cfg.estimator
    g = None
    if est == "snap1":
        g = delta[:, :, None] * state.slot_infl[slot]
    elif est == "rtrl":
        b, n = state.batch, cfg.n_cols
        if causal:  # e^T (W_c J) with the record's dyhat/dW
            g = torch.matmul(e[:, None, :], state.slot_infl[slot])
        else:
            g = torch.matmul(delta[:, None, :], state.infl.reshape(b, q, q * n))
        g = g.reshape(b, q, n)
    elif est == "uoro":
        size = q * (1 + cfg.n_cols)
        infl = state.slot_infl[slot][:, size:] if cfg.as_coded else state.slot_infl[slot]
        coef = (delta * infl[:, :q]).sum(dim=1)
        g = (coef[:, None] * infl[:, q:]).reshape(state.batch, q, cfg.n_cols)
    elif est == "dni":
        wa_rec = state.slot_infl[slot] if causal else state.w[:, :, :q]
        g = _dni_gradient(state, h, z, wa_rec, target, delta, mask)
    if g is not None:
        sq_a = (g[:, :, :q] ** 2).sum(dim=(1, 2))
        sq_b = (g[:, :, q:] ** 2).sum(dim=(1, 2))
        step_a = lr * _clip_scale(sq_a, state.clip)
        step_b = lr * _clip_scale(sq_b, state.clip)
        state.w[:, :, :q] -= step_a[:, None, None] * g[:, :, :q]
        state.w[:, :, q:] -= step_b[:, None, None] * g[:, :, q:]
    sq_c = (e * e).sum(dim=1) * (h * h).sum(dim=1)
    step_c = lr * _clip_scale(sq_c, state.clip)
    state.wc -= step_c[:, None, None] * (e[:, :, None] * h[:, None, :])


def _dni_gradient(
    state: BatchedRNNState,
    h: torch.Tensor,
    z: torch.Tensor,
    wa: torch.Tensor,
    target: torch.Tensor,
    delta: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    """DNI: train the credit model one step, return ``g_W (B, Q, N)``.

    ``x~ = [h; y; 1]`` is the credit input; the credit of the state ``h`` is ``c = x~_prev A``.
    ``A`` descends ``1/2 ||x~_prev A - delta - (x~ A) D||^2`` (``D = diag(1 - h^2) W_a``, full
    gradient through both terms, ``W_a`` as at the forward step), learning rate
    :data:`DNI_LR`, unclipped.
    """
    d = 1.0 - h * h
    ones = torch.ones_like(h[:, :1])
    xt, xt_next = state.credit_in, torch.cat([h, target, ones], dim=1)  # (B, R)
    a = state.credit  # (B, R, Q)
    c_temp = torch.matmul(xt[:, None, :], a)[:, 0]
    c_next = torch.matmul(xt_next[:, None, :], a)[:, 0]
    c_next_d = torch.matmul((c_next * d)[:, None, :], wa)[:, 0]  # (c_next D)_k
    f = c_temp - delta - c_next_d  # (B, Q)
    f_dt = d * torch.matmul(wa, f[:, :, None])[:, :, 0]  # (f D^T)_i
    grad_a = xt[:, :, None] * f[:, None, :] - xt_next[:, :, None] * f_dt[:, None, :]
    lr_a = torch.where(mask, torch.full_like(state.lr, DNI_LR), torch.zeros_like(state.lr))
    a -= lr_a[:, None, None] * grad_a
    c = torch.matmul(xt[:, None, :], a)[:, 0]
    state.credit_in.copy_(torch.where(mask[:, None], xt_next, xt))
    return (c * d)[:, :, None] * z[:, None, :]


def diverged_rows(state: BatchedRNNState) -> torch.Tensor:
    """``(B,)`` bool: a weight matrix (``W``, ``W_c``, DNI's ``A``) is non-finite or its Frobenius
    norm exceeds :data:`DIVERGENCE_NORM` (the forecaster's ``diverged`` check).

    Uses the norms the Triton update kernels left in ``state.w_sq`` / ``state.credit_sq`` where
    present; otherwise ``torch.linalg.vector_norm`` reads each matrix once without writing a
    squared copy.
    """
    limit = DIVERGENCE_NORM
    if state.w_sq is not None:
        bad = ~(state.w_sq <= limit * limit)
    else:
        bad = ~(torch.linalg.vector_norm(state.w, dim=(1, 2)) <= limit)
    bad |= ~(torch.linalg.vector_norm(state.wc, dim=(1, 2)) <= limit)
    if state.config.estimator == "dni":
        if state.credit_sq is not None:
            bad |= ~(state.credit_sq <= limit * limit)
        else:
            bad |= ~(torch.linalg.vector_norm(state.credit, dim=(1, 2)) <= limit)
    return bad


def ensure_norms(state: BatchedRNNState) -> None:
    """Allocate ``state.w_sq`` (and ``credit_sq`` for DNI) from the current matrices if missing:
    the Triton update kernels then keep them current."""
    if state.w_sq is None:
        state.w_sq = (state.w * state.w).sum(dim=(1, 2))
    if state.credit_sq is None:
        if state.config.estimator == "dni":
            state.credit_sq = (state.credit * state.credit).sum(dim=(1, 2))
        else:  # a (B,) placeholder the kernels never read
            state.credit_sq = torch.zeros_like(state.w_sq)


def flush_resets(state: BatchedRNNState) -> int:
    """Re-initialise the rows marked ``pending`` (one host synchronisation); return how many."""
    if state.pending is None or not bool(state.pending.any()):
        return 0
    rows = torch.nonzero(state.pending).flatten()
    state.resets[rows] += 1
    reinitialise(state, rows.cpu().numpy())
    state.pending[rows] = False
    return int(rows.numel())


def generic_step(
    state: BatchedRNNState,
    y: torch.Tensor,
    *,
    lookahead: torch.Tensor | None,
    has_lookahead: torch.Tensor | None,
    active: torch.Tensor | None,
    forward: ForwardFn,
    update: UpdateFn,
    sync_every: int = 1,
    fused_causal: FusedFn | None = None,
) -> torch.Tensor:
    """One time step of every RNN with the given forward and update implementations.

    See :func:`rnn_step_torch` for the parameters; shared with the Triton path so both follow the
    same order of operations.
    """
    cfg = state.config
    b = state.batch
    y = torch.as_tensor(y, device=state.w.device, dtype=state.w.dtype).reshape(b, cfg.n_features)
    state.t += 1
    s = state.t % cfg.n_slots
    prev = (state.t - 1) % cfg.n_slots
    act = torch.ones(b, dtype=torch.bool, device=y.device) if active is None else active
    if cfg.mode == "causal" and fused_causal is not None:
        # one launch: learn from slot s (issued at t - h), then the forward step into slot s
        learn = act & (state.steps >= cfg.horizon)
        push_history(state, y, active)
        fused_causal(state, s, prev, y, learn, input_vector(state))
    else:
        if cfg.mode == "causal":
            learn = act & (state.steps >= cfg.horizon)
            update(state, s, y, learn)
        push_history(state, y, active)
        signs = uoro_signs(state) if cfg.estimator == "uoro" else None
        forward(state, input_vector(state), prev, s, signs)
    pred = state.slot_yhat[s].clone()
    if cfg.mode == "reference" and lookahead is not None:
        target = torch.as_tensor(lookahead, device=y.device, dtype=y.dtype).reshape(b, -1)
        learn = act if has_lookahead is None else act & has_lookahead
        update(state, s, target, learn)
    state.steps += act.to(torch.int64)
    bad = act & (diverged_rows(state) | ~torch.isfinite(pred).all(dim=1)
                 | (pred.abs().amax(dim=1) > EXPLODED))
    # a diverged row forecasts y_t and is re-initialised at the next flush: at once when
    # sync_every = 1 (one host round trip per step), else every sync_every steps
    if state.pending is None:
        state.pending = torch.zeros_like(bad)
    if state.guard is not None:
        # the plausibility guard (same rule as Forecaster.step); its resets take the same path
        pred, reset = guard_step(state.guard, s, y, pred, state.pending | bad, act)
        state.pending |= bad | reset
    else:
        state.pending |= bad
        pred = torch.where(state.pending[:, None], y, pred)
    if sync_every <= 1 or (state.t + 1) % sync_every == 0:
        flush_resets(state)
    if active is not None:
        pred[~active] = float("nan")
    return pred


def rnn_step_torch(
    state: BatchedRNNState,
    y: torch.Tensor,
    *,
    lookahead: torch.Tensor | None = None,
    has_lookahead: torch.Tensor | None = None,
    active: torch.Tensor | None = None,
    sync_every: int = 1,
) -> torch.Tensor:
    """Receive ``y_t`` for every RNN, learn what the mode allows, return the forecasts.

    Parameters
    ----------
    state
        Batched state, modified in place.
    y
        ``(B, P)`` standardised samples ``y_t``.
    lookahead
        Reference mode only: ``(B, P)`` targets ``y_{t+h}``; ignored in causal mode.
    has_lookahead
        ``(B,)`` bool: which rows have a lookahead target (the others do not learn this step).
    active
        ``(B,)`` bool: rows still inside their series (``None``: all). A row that becomes inactive
        must stay inactive (trailing padding of shorter series): its weights no longer change,
        its forecast is NaN and its queue contents are unspecified.
    sync_every
        ``1`` (default): a diverged row is re-initialised in the step that finds it, as the
        single forecasters do (one host synchronisation per step). ``n > 1``: the check stays on
        the device; a diverged row forecasts ``y_t`` (last value) until the next step whose
        ``t + 1`` is a multiple of ``n``, where all such rows are re-initialised at once
        (:func:`flush_resets`). On a GPU this lets the host queue steps ahead of the device.

    Returns
    -------
    torch.Tensor
        ``(B, P)`` forecasts of ``y_{t+h}``. A row whose forecast is non-finite or exceeds 1e6 is
        re-initialised from ``seed + resets`` and returns ``y_t`` (the forecaster contract).
    """
    return generic_step(
        state,
        y,
        lookahead=lookahead,
        has_lookahead=has_lookahead,
        active=active,
        forward=forward_torch,
        update=update_torch,
        sync_every=sync_every,
    )
