"""Triton kernels of the batched online RNN step, twins of
:mod:`motionpredict.kernels.batched_rnn_torch`.

Shapes legend: B batch, Q hidden, M inputs (1 + K*P), P outputs, N = Q + M, R = Q + P + 1.

Each step is two launches with one program per RNN (grid ``(B,)``), looping over tiles of
``ROWS`` rows of ``W = [W_a | W_b]`` (``ROWS x BLOCK_N`` values, ``BLOCK_N = next_pow2(N)``):

* the *update* kernel scores a stored forecast, clips the gradients of ``W_a``, ``W_b`` and
  ``W_c`` per matrix and applies the SGD step in place. SnAp-1 and UORO: two passes over the
  record's influence tiles (norms, then the step); DNI: the credit-model step over tiles of rows
  of ``A`` (R x Q), then one pass over ``W`` (the gradient ``(c * phi') z^T`` is rank one, so its
  norms are closed-form);
* the *forward* kernel computes ``z = [h_{t-1}; x_t]``, ``h_t = tanh(W z)``, ``yhat_t = W_c h_t``
  and the estimator's record: SnAp-1 ``J_t = diag(1 - h_t^2)(diag(W_a) J_{t-1} + 1 z^T)``; UORO
  the tangent ``(1 - h^2) * (W_a s)``, the norms, then ``s_t, theta_t`` in a second pass; DNI
  (causal) a copy of ``W_a``.

Causal mode launches update then forward, reference mode forward then update (the order of the
twin). Estimators with kernels: SnAp-1, UORO, DNI and fixed recurrent weights. RTRL runs through
the twin's functions: its step is the batched matrix product ``W_a J`` (Q x Q times Q x Q*N per
RNN), which cuBLAS already runs as a batched GEMM. Values a program shares between its threads go
through global scratch with ``tl.debug_barrier()`` between writers and readers, and every
in-place update reads a tile before any thread writes it.

Import this module only where Triton is installed; set ``TRITON_INTERPRET=1`` before importing it
to run the kernels on the CPU with Triton's interpreter (tests).
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

from motionpredict.kernels.backend import TRITON_ESTIMATORS
from motionpredict.kernels.batched_rnn_state import (
    DNI_LR,
    UORO_EPS,
    BatchedRNNState,
    TensorOptions,
)
from motionpredict.kernels.batched_rnn_torch import (
    ensure_norms,
    forward_torch,
    generic_step,
    update_torch,
)

#: Target number of values in one ``ROWS x BLOCK_N`` tile.
_TILE_VALUES = 4096


@triton.jit
def _tanh(a):
    """tanh from one exponential, stable for large |a|."""
    t = tl.exp(-2.0 * tl.abs(a))
    r = (1.0 - t) / (1.0 + t)
    return tl.where(a < 0, -r, r)


@triton.jit
def _clip_scale(sq, clip):
    """``min(1, clip / sqrt(sq))`` (1 for a zero gradient)."""
    norm = tl.sqrt(sq)
    return tl.where(norm > clip, clip / tl.maximum(norm, clip), 1.0)


@triton.jit
def _readout_step(YREC, TARGET, HREC, WCREC, WC, b, P, Q, lr, clip,
                  BLOCK_P: tl.constexpr, BLOCK_Q: tl.constexpr):
    """Loss terms of the scored forecast and the clipped SGD step of ``W_c`` (nothing stored).

    Returns ``e = yhat - target`` (P), ``h`` of the forecast (Q), the updated ``W_c`` (P x Q),
    ``delta = W_c,rec^T e`` (Q), and the offsets and mask of the ``W_c`` tile."""
    pp = tl.arange(0, BLOCK_P)
    qq = tl.arange(0, BLOCK_Q)
    pmask = pp < P
    qmask = qq < Q
    e = tl.load(YREC + b * P + pp, mask=pmask, other=0.0) - tl.load(
        TARGET + b * P + pp, mask=pmask, other=0.0
    )
    hr = tl.load(HREC + b * Q + qq, mask=qmask, other=0.0)
    cmask2 = pmask[:, None] & qmask[None, :]
    coffs = b * P * Q + pp[:, None] * Q + qq[None, :]
    wcr = tl.load(WCREC + coffs, mask=cmask2, other=0.0)
    wc = tl.load(WC + coffs, mask=cmask2, other=0.0)
    sc = _clip_scale(tl.sum(e * e, axis=0) * tl.sum(hr * hr, axis=0), clip)
    wc_new = wc - (lr * sc) * e[:, None] * hr[None, :]
    delta = tl.sum(wcr * e[:, None], axis=0)
    return e, hr, wc_new, delta, coffs, cmask2


@triton.jit
def _record_step_coef(JREC, j_base, DELTA, b, Q, n_cols, coef_u, lr, clip, ref,
                      UORO: tl.constexpr, BLOCK_N: tl.constexpr, ROWS: tl.constexpr):
    """Per-column SGD step ``lr * clip_scale`` of SnAp-1 / UORO from one pass over the record:
    ``G_ij = delta_i J_ij`` (SnAp-1) or ``coef_u theta_ij`` (UORO), clipped per matrix
    (``W_a`` columns ``< Q``, ``W_b`` the others). ``ref`` only gives the accumulator dtype."""
    cols = tl.arange(0, BLOCK_N)
    cmask = cols < n_cols
    in_a = cols < Q
    sq_a = tl.zeros([ROWS], dtype=ref.dtype)
    sq_b = tl.zeros([ROWS], dtype=ref.dtype)
    for r0 in range(0, Q, ROWS):
        rows = r0 + tl.arange(0, ROWS)
        rmask = rows < Q
        tmask = rmask[:, None] & cmask[None, :]
        dl = tl.load(DELTA + b * Q + rows, mask=rmask, other=0.0)
        j = tl.load(JREC + j_base + rows[:, None] * n_cols + cols[None, :],
                    mask=tmask, other=0.0)
        if UORO:
            g = coef_u * j
        else:
            g = dl[:, None] * j
        g2 = g * g
        sq_a += tl.sum(tl.where(in_a[None, :], g2, 0.0), axis=1)
        sq_b += tl.sum(tl.where(in_a[None, :], 0.0, g2), axis=1)
    step_a = lr * _clip_scale(tl.sum(sq_a, axis=0), clip)
    step_b = lr * _clip_scale(tl.sum(sq_b, axis=0), clip)
    return tl.where(in_a, step_a, step_b)


@triton.jit
def _forward_kernel(
    W,  # (B, Q, N) recurrent weights
    WC,  # (B, P, Q) readout
    X,  # (B, M) inputs
    HPREV,  # (B, Q) h_{t-1}
    JPREV,  # (B, Q, N) SnAp-1 influence of t-1
    HNEW,  # (B, Q) out: h_t
    ZNEW,  # (B, N) out: z_t
    YNEW,  # (B, P) out: yhat_t
    JNEW,  # (B, Q, N) out: influence of t (may alias JPREV)
    WCNEW,  # (B, P, Q) out: copy of W_c (causal record)
    WANEW,  # (B, Q, Q) out: copy of W_a (DNI causal record)
    Q,
    M,
    P,
    HAS_J: tl.constexpr,
    STORE_WC: tl.constexpr,
    STORE_WA: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_P: tl.constexpr,
    ROWS: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    n_cols = Q + M
    cols = tl.arange(0, BLOCK_N)
    cmask = cols < n_cols
    pp = tl.arange(0, BLOCK_P)
    pmask = pp < P
    hp = tl.load(HPREV + b * Q + cols, mask=cols < Q, other=0.0)
    xv = tl.load(X + b * M + (cols - Q), mask=(cols >= Q) & cmask, other=0.0)
    z = hp + xv
    # every thread has read h_{t-1} before any writes h_t (HNEW may alias HPREV)
    tl.debug_barrier()
    tl.store(ZNEW + b * n_cols + cols, z, mask=cmask)
    yacc = tl.zeros([BLOCK_P], dtype=z.dtype)
    for r0 in range(0, Q, ROWS):
        rows = r0 + tl.arange(0, ROWS)
        rmask = rows < Q
        tmask = rmask[:, None] & cmask[None, :]
        offs = b * Q * n_cols + rows[:, None] * n_cols + cols[None, :]
        w = tl.load(W + offs, mask=tmask, other=0.0)
        h = _tanh(tl.sum(w * z[None, :], axis=1))
        tl.store(HNEW + b * Q + rows, h, mask=rmask)
        if STORE_WA:
            tl.store(WANEW + b * Q * Q + rows[:, None] * Q + cols[None, :], w,
                     mask=rmask[:, None] & (cols[None, :] < Q))
        if HAS_J:
            d = 1.0 - h * h
            diag = tl.sum(tl.where(cols[None, :] == rows[:, None], w, 0.0), axis=1)
            jp = tl.load(JPREV + offs, mask=tmask, other=0.0)
            jn = d[:, None] * (diag[:, None] * jp + z[None, :])
            tl.store(JNEW + offs, jn, mask=tmask)
        wmask = pmask[:, None] & rmask[None, :]
        woffs = b * P * Q + pp[:, None] * Q + rows[None, :]
        wc = tl.load(WC + woffs, mask=wmask, other=0.0)
        yacc += tl.sum(wc * h[None, :], axis=1)
        if STORE_WC:
            tl.store(WCNEW + woffs, wc, mask=wmask)
    tl.store(YNEW + b * P + pp, yacc, mask=pmask)


@triton.jit
def _uoro_forward_kernel(
    W,  # (B, Q, N) recurrent weights
    WC,  # (B, P, Q) readout
    X,  # (B, M) inputs
    HPREV,  # (B, Q) h_{t-1}
    UPREV,  # (B, Q * (1 + N)) previous estimate [s, theta]
    SIGNS,  # (B, Q) random signs nu
    HNEW,  # (B, Q) out: h_t
    ZNEW,  # (B, N) out: z_t
    YNEW,  # (B, P) out: yhat_t
    UNEW,  # (B, Q * (1 + N)) out: new estimate (may alias UPREV)
    WCNEW,  # (B, P, Q) out: copy of W_c (causal record)
    A1,  # (B, Q) scratch: tangent (1 - h^2) * (W_a s)
    CONSTS,  # (2,) [eps, sqrt(Q)] in the state's dtype (scalar arguments would be float32)
    Q,
    M,
    P,
    STORE_WC: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_P: tl.constexpr,
    ROWS: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    n_cols = Q + M
    u_base = b * Q * (1 + n_cols)
    eps = tl.load(CONSTS)
    sqrt_q = tl.load(CONSTS + 1)
    cols = tl.arange(0, BLOCK_N)
    cmask = cols < n_cols
    in_a = cols < Q
    pp = tl.arange(0, BLOCK_P)
    pmask = pp < P
    hp = tl.load(HPREV + b * Q + cols, mask=in_a, other=0.0)
    xv = tl.load(X + b * M + (cols - Q), mask=(cols >= Q) & cmask, other=0.0)
    z = hp + xv
    s_old = tl.load(UPREV + u_base + cols, mask=in_a, other=0.0)  # s_{t-1} on the columns of W_a
    # h_{t-1} and s_{t-1} are read by every thread before anything is written (aliasing)
    tl.debug_barrier()
    tl.store(ZNEW + b * n_cols + cols, z, mask=cmask)
    yacc = tl.zeros([BLOCK_P], dtype=z.dtype)
    sq_th = tl.zeros([ROWS], dtype=z.dtype)
    sq_a1 = tl.zeros([ROWS], dtype=z.dtype)
    sq_nd = tl.zeros([ROWS], dtype=z.dtype)
    for r0 in range(0, Q, ROWS):
        rows = r0 + tl.arange(0, ROWS)
        rmask = rows < Q
        tmask = rmask[:, None] & cmask[None, :]
        w = tl.load(W + b * Q * n_cols + rows[:, None] * n_cols + cols[None, :], mask=tmask,
                    other=0.0)
        h = _tanh(tl.sum(w * z[None, :], axis=1))
        d = 1.0 - h * h
        tl.store(HNEW + b * Q + rows, h, mask=rmask)
        a1 = d * tl.sum(w * s_old[None, :], axis=1)
        tl.store(A1 + b * Q + rows, a1, mask=rmask)
        nu = tl.load(SIGNS + b * Q + rows, mask=rmask, other=0.0)
        th = tl.load(UPREV + u_base + Q + rows[:, None] * n_cols + cols[None, :], mask=tmask,
                     other=0.0)
        sq_th += tl.sum(th * th, axis=1)
        sq_a1 += a1 * a1
        sq_nd += nu * nu * d * d
        wmask = pmask[:, None] & rmask[None, :]
        woffs = b * P * Q + pp[:, None] * Q + rows[None, :]
        wc = tl.load(WC + woffs, mask=wmask, other=0.0)
        yacc += tl.sum(wc * h[None, :], axis=1)
        if STORE_WC:
            tl.store(WCNEW + woffs, wc, mask=wmask)
    tl.store(YNEW + b * P + pp, yacc, mask=pmask)
    norm_z = tl.sqrt(tl.sum(z * z, axis=0))
    rho0 = tl.sqrt(tl.sqrt(tl.sum(sq_th, axis=0)) / (tl.sqrt(tl.sum(sq_a1, axis=0)) + eps)) + eps
    norm_g = tl.sqrt(tl.sum(sq_nd, axis=0)) * norm_z
    rho1 = tl.sqrt(norm_g / (sqrt_q + eps)) + eps
    # h_t and the tangent written above are read back below by other threads
    tl.debug_barrier()
    for r0 in range(0, Q, ROWS):
        rows = r0 + tl.arange(0, ROWS)
        rmask = rows < Q
        tmask = rmask[:, None] & cmask[None, :]
        h = tl.load(HNEW + b * Q + rows, mask=rmask, other=0.0)
        a1 = tl.load(A1 + b * Q + rows, mask=rmask, other=0.0)
        nu = tl.load(SIGNS + b * Q + rows, mask=rmask, other=0.0)
        nd = nu * (1.0 - h * h)
        toffs = Q + rows[:, None] * n_cols + cols[None, :]
        th = tl.load(UPREV + u_base + toffs, mask=tmask, other=0.0)
        tl.store(UNEW + u_base + toffs, th / rho0 + (nd / rho1)[:, None] * z[None, :],
                 mask=tmask)
        tl.store(UNEW + u_base + rows, rho0 * a1 + rho1 * nu, mask=rmask)


@triton.jit
def _update_kernel(
    W,  # (B, Q, N) recurrent weights, updated in place
    WC,  # (B, P, Q) readout, updated in place
    HREC,  # (B, Q) hidden state of the scored forecast
    YREC,  # (B, P) the scored forecast
    WCREC,  # (B, P, Q) the W_c that issued it (may alias WC)
    JREC,  # its estimator record: SnAp-1 (B, Q, N); UORO (B, Q * (1 + N)) = [s, theta]
    TARGET,  # (B, P)
    LEARN,  # (B,) int8: 1 where the RNN learns now
    LR,  # (B,)
    CLIP,  # (B,)
    DELTA,  # (B, Q) scratch: dL/dh
    WSQ,  # (B,) squared Frobenius norm of the updated W (written where LEARN_W)
    Q,
    M,
    P,
    LEARN_W: tl.constexpr,
    UORO: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_Q: tl.constexpr,
    ROWS: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    n_cols = Q + M
    learn = tl.load(LEARN + b)
    clip = tl.load(CLIP + b)
    lr = tl.where(learn != 0, tl.load(LR + b), 0.0)
    qq = tl.arange(0, BLOCK_Q)
    qmask = qq < Q
    e, _hr, wc_new, delta, coffs, cmask2 = _readout_step(
        YREC, TARGET, HREC, WCREC, WC, b, P, Q, lr, clip, BLOCK_P, BLOCK_Q
    )
    if LEARN_W:
        if UORO:  # G = (delta . s) theta, record = [s (Q), theta (Q, N)]
            j_base = b * Q * (1 + n_cols) + Q
            s_rec = tl.load(JREC + b * Q * (1 + n_cols) + qq, mask=qmask, other=0.0)
            coef_u = tl.sum(delta * s_rec, axis=0)
        else:  # SnAp-1: G_ij = delta_i J_ij
            j_base = b * Q * n_cols
            coef_u = 0.0
        tl.store(DELTA + b * Q + qq, delta, mask=qmask)
        tl.debug_barrier()
        cols = tl.arange(0, BLOCK_N)
        cmask = cols < n_cols
        coef = _record_step_coef(JREC, j_base, DELTA, b, Q, n_cols, coef_u, lr, clip, e,
                                 UORO, BLOCK_N, ROWS)
        sq_w = tl.zeros([ROWS], dtype=e.dtype)
        for r0 in range(0, Q, ROWS):
            rows = r0 + tl.arange(0, ROWS)
            rmask = rows < Q
            tmask = rmask[:, None] & cmask[None, :]
            offs = b * Q * n_cols + rows[:, None] * n_cols + cols[None, :]
            dl = tl.load(DELTA + b * Q + rows, mask=rmask, other=0.0)
            j = tl.load(JREC + j_base + rows[:, None] * n_cols + cols[None, :],
                        mask=tmask, other=0.0)
            if UORO:
                g = coef_u * j
            else:
                g = dl[:, None] * j
            w = tl.load(W + offs, mask=tmask, other=0.0)
            w_new = w - coef[None, :] * g  # zero outside the mask (masked loads give 0)
            tl.store(W + offs, w_new, mask=tmask)
            sq_w += tl.sum(w_new * w_new, axis=1)
        # the divergence check reads this instead of another pass over W
        tl.store(WSQ + b, tl.sum(sq_w, axis=0))
    tl.store(WC + coffs, wc_new, mask=cmask2)

@triton.jit
def _dni_update_kernel(
    W,  # (B, Q, N) recurrent weights, updated in place
    WC,  # (B, P, Q) readout, updated in place
    A,  # (B, R, Q) credit model, R = Q + P + 1, updated in place
    XT,  # (B, R) previous credit input, replaced by [h, target, 1] where the RNN learns
    HREC,  # (B, Q) hidden state of the scored forecast
    ZREC,  # (B, N) its z = [h_prev, x]
    YREC,  # (B, P) the scored forecast
    WCREC,  # (B, P, Q) the W_c that issued it (may alias WC)
    WAREC,  # W_a of the forward step: rows of stride WA_ROW, RNNs of stride WA_B
    TARGET,  # (B, P)
    LEARN,  # (B,) int8
    LR,  # (B,)
    CLIP,  # (B,)
    SCRATCH,  # (B, 3, Q)
    CONSTS,  # (1,) [lr_A] in the state's dtype
    WSQ,  # (B,) squared Frobenius norm of the updated W
    ASQ,  # (B,) squared Frobenius norm of the updated credit model A
    Q,
    M,
    P,
    WA_ROW,
    WA_B,
    BLOCK_N: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_Q: tl.constexpr,
    ROWS: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    n_cols = Q + M
    n_r = Q + P + 1
    learn = tl.load(LEARN + b)
    clip = tl.load(CLIP + b)
    lr = tl.where(learn != 0, tl.load(LR + b), 0.0)
    lr_a = tl.where(learn != 0, tl.load(CONSTS), 0.0)
    qq = tl.arange(0, BLOCK_Q)
    qmask = qq < Q
    e, hr, wc_new, delta, coffs, cmask2 = _readout_step(
        YREC, TARGET, HREC, WCREC, WC, b, P, Q, lr, clip, BLOCK_P, BLOCK_Q
    )
    d = 1.0 - hr * hr
    s_base = b * 3 * Q
    # credits c_prev = x~_prev A and c_next = x~_next A, x~_next = [h, target, 1]
    c_prev = tl.zeros([BLOCK_Q], dtype=e.dtype)
    c_next = tl.zeros([BLOCK_Q], dtype=e.dtype)
    for r0 in range(0, n_r, ROWS):
        rr = r0 + tl.arange(0, ROWS)
        rmask = rr < n_r
        a = tl.load(A + b * n_r * Q + rr[:, None] * Q + qq[None, :],
                    mask=rmask[:, None] & qmask[None, :], other=0.0)
        xt = tl.load(XT + b * n_r + rr, mask=rmask, other=0.0)
        xn = (tl.load(HREC + b * Q + rr, mask=rr < Q, other=0.0)
              + tl.load(TARGET + b * P + (rr - Q), mask=(rr >= Q) & (rr < Q + P), other=0.0)
              + tl.where(rr == Q + P, 1.0, 0.0))
        c_prev += tl.sum(xt[:, None] * a, axis=0)
        c_next += tl.sum(xn[:, None] * a, axis=0)
    tl.store(SCRATCH + s_base + qq, c_next * d, mask=qmask)
    tl.debug_barrier()
    # (c_next D)_k = sum_i c_next_i d_i W_a[i, k]
    cnd_w = tl.zeros([BLOCK_Q], dtype=e.dtype)
    for r0 in range(0, Q, ROWS):
        rows = r0 + tl.arange(0, ROWS)
        rmask = rows < Q
        wa = tl.load(WAREC + b * WA_B + rows[:, None] * WA_ROW + qq[None, :],
                     mask=rmask[:, None] & qmask[None, :], other=0.0)
        cnd = tl.load(SCRATCH + s_base + rows, mask=rmask, other=0.0)
        cnd_w += tl.sum(cnd[:, None] * wa, axis=0)
    f = c_prev - delta - cnd_w
    # (f D^T)_i = d_i sum_k W_a[i, k] f_k
    for r0 in range(0, Q, ROWS):
        rows = r0 + tl.arange(0, ROWS)
        rmask = rows < Q
        wa = tl.load(WAREC + b * WA_B + rows[:, None] * WA_ROW + qq[None, :],
                     mask=rmask[:, None] & qmask[None, :], other=0.0)
        hrow = tl.load(HREC + b * Q + rows, mask=rmask, other=0.0)
        f_dt = (1.0 - hrow * hrow) * tl.sum(wa * f[None, :], axis=1)
        tl.store(SCRATCH + s_base + Q + rows, f_dt, mask=rmask)
    tl.debug_barrier()
    f_dt_c = tl.load(SCRATCH + s_base + Q + qq, mask=qmask, other=0.0)
    # credit model step, then c = x~_prev A (updated A)
    c = tl.zeros([BLOCK_Q], dtype=e.dtype)
    sq_a = tl.zeros([ROWS], dtype=e.dtype)
    for r0 in range(0, n_r, ROWS):
        rr = r0 + tl.arange(0, ROWS)
        rmask = rr < n_r
        amask = rmask[:, None] & qmask[None, :]
        aoffs = b * n_r * Q + rr[:, None] * Q + qq[None, :]
        a = tl.load(A + aoffs, mask=amask, other=0.0)
        xt = tl.load(XT + b * n_r + rr, mask=rmask, other=0.0)
        xn = (tl.load(HREC + b * Q + rr, mask=rr < Q, other=0.0)
              + tl.load(TARGET + b * P + (rr - Q), mask=(rr >= Q) & (rr < Q + P), other=0.0)
              + tl.where(rr == Q + P, 1.0, 0.0))
        a = a - lr_a * (xt[:, None] * f[None, :] - xn[:, None] * f_dt_c[None, :])
        tl.store(A + aoffs, a, mask=amask)
        sq_a += tl.sum(tl.where(amask, a * a, 0.0), axis=1)
        c += tl.sum(xt[:, None] * a, axis=0)
    tl.store(ASQ + b, tl.sum(sq_a, axis=0))
    cd = c * d
    tl.store(SCRATCH + s_base + 2 * Q + qq, cd, mask=qmask)
    # G = (c * phi') z^T: closed-form norms of its W_a and W_b parts
    cols = tl.arange(0, BLOCK_N)
    cmask = cols < n_cols
    in_a = cols < Q
    z = tl.load(ZREC + b * n_cols + cols, mask=cmask, other=0.0)
    sq_cd = tl.sum(cd * cd, axis=0)
    step_a = lr * _clip_scale(sq_cd * tl.sum(tl.where(in_a, z * z, 0.0), axis=0), clip)
    step_b = lr * _clip_scale(sq_cd * tl.sum(tl.where(in_a, 0.0, z * z), axis=0), clip)
    coef = tl.where(in_a, step_a, step_b)
    tl.debug_barrier()
    sq_w = tl.zeros([ROWS], dtype=e.dtype)
    for r0 in range(0, Q, ROWS):
        rows = r0 + tl.arange(0, ROWS)
        rmask = rows < Q
        tmask = rmask[:, None] & cmask[None, :]
        offs = b * Q * n_cols + rows[:, None] * n_cols + cols[None, :]
        cdr = tl.load(SCRATCH + s_base + 2 * Q + rows, mask=rmask, other=0.0)
        w = tl.load(W + offs, mask=tmask, other=0.0)
        w_new = tl.where(tmask, w - coef[None, :] * (cdr[:, None] * z[None, :]), 0.0)
        tl.store(W + offs, w_new, mask=tmask)
        sq_w += tl.sum(w_new * w_new, axis=1)
    tl.store(WSQ + b, tl.sum(sq_w, axis=0))
    tl.store(WC + coffs, wc_new, mask=cmask2)
    # every read of x~_prev is done before it is replaced
    tl.debug_barrier()
    rr = tl.arange(0, BLOCK_Q * 2)
    rmask = rr < n_r
    xt = tl.load(XT + b * n_r + rr, mask=rmask, other=0.0)
    xn = (tl.load(HREC + b * Q + rr, mask=rr < Q, other=0.0)
          + tl.load(TARGET + b * P + (rr - Q), mask=(rr >= Q) & (rr < Q + P), other=0.0)
          + tl.where(rr == Q + P, 1.0, 0.0))
    tl.debug_barrier()
    tl.store(XT + b * n_r + rr, tl.where(learn != 0, xn, xt), mask=rmask)


@triton.jit
def _snap1_causal_fused_kernel(
    W,  # (B, Q, N) recurrent weights, updated in place
    WC,  # (B, P, Q) readout, updated in place
    X,  # (B, M) inputs x_t
    HPREV,  # (B, Q) h_{t-1} (slot t-1; the same memory as HREC when h = 1)
    JPREV,  # (B, Q, N) running influence of t-1 (the same memory as JREC when h = 1)
    HREC,  # (B, Q) hidden state of the forecast issued at t - h; overwritten by h_t
    YREC,  # (B, P) that forecast; overwritten by yhat_t
    WCREC,  # (B, P, Q) the W_c that issued it; overwritten by the updated W_c
    JREC,  # (B, Q, N) its influence record; overwritten by the new influence
    ZNEW,  # (B, N) out: z_t
    TARGET,  # (B, P) y_t, the target of the recorded forecast
    LEARN,  # (B,) int8: 1 where the RNN learns now
    LR,  # (B,)
    CLIP,  # (B,)
    DELTA,  # (B, Q) scratch: dL/dh
    WSQ,  # (B,) out: squared Frobenius norm of the updated W
    Q,
    M,
    P,
    SAME_SLOT: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_Q: tl.constexpr,
    ROWS: tl.constexpr,
):
    """SnAp-1, causal mode: the update from the record of t - h and the forward step of t in one
    launch. Row i of W is updated and immediately used for h_i and J_i (rows are independent
    once the clipping norms are known), so W is read and written once and the record J twice
    (norms, then the step; once more for J_{t-1} unless SAME_SLOT)."""
    b = tl.program_id(0).to(tl.int64)
    n_cols = Q + M
    learn = tl.load(LEARN + b)
    clip = tl.load(CLIP + b)
    lr = tl.where(learn != 0, tl.load(LR + b), 0.0)
    pp = tl.arange(0, BLOCK_P)
    qq = tl.arange(0, BLOCK_Q)
    pmask = pp < P
    qmask = qq < Q
    cols = tl.arange(0, BLOCK_N)
    cmask = cols < n_cols
    # everything read from the record (and h_{t-1}) before anything is overwritten
    e, _hr, wc_new, delta, coffs, cmask2 = _readout_step(
        YREC, TARGET, HREC, WCREC, WC, b, P, Q, lr, clip, BLOCK_P, BLOCK_Q
    )
    hp = tl.load(HPREV + b * Q + cols, mask=cols < Q, other=0.0)
    xv = tl.load(X + b * M + (cols - Q), mask=(cols >= Q) & cmask, other=0.0)
    z = hp + xv
    tl.store(DELTA + b * Q + qq, delta, mask=qmask)
    tl.debug_barrier()
    tl.store(WC + coffs, wc_new, mask=cmask2)
    tl.store(WCREC + coffs, wc_new, mask=cmask2)  # the record of the forecast issued now
    tl.store(ZNEW + b * n_cols + cols, z, mask=cmask)
    # pass 1: clipping norms of G_a and G_b, G_ij = delta_i J_ij
    j_base = b * Q * n_cols
    coef = _record_step_coef(JREC, j_base, DELTA, b, Q, n_cols, 0.0, lr, clip, e,
                             False, BLOCK_N, ROWS)
    tl.debug_barrier()
    # pass 2: per row tile, update W, then h_t, the new influence and the forecast
    sq_w = tl.zeros([ROWS], dtype=e.dtype)
    yacc = tl.zeros([BLOCK_P], dtype=e.dtype)
    for r0 in range(0, Q, ROWS):
        rows = r0 + tl.arange(0, ROWS)
        rmask = rows < Q
        tmask = rmask[:, None] & cmask[None, :]
        offs = j_base + rows[:, None] * n_cols + cols[None, :]
        dl = tl.load(DELTA + b * Q + rows, mask=rmask, other=0.0)
        j_rec = tl.load(JREC + offs, mask=tmask, other=0.0)
        w = tl.load(W + offs, mask=tmask, other=0.0)
        w_new = w - coef[None, :] * (dl[:, None] * j_rec)
        tl.store(W + offs, w_new, mask=tmask)
        sq_w += tl.sum(w_new * w_new, axis=1)
        h = _tanh(tl.sum(w_new * z[None, :], axis=1))
        d = 1.0 - h * h
        diag = tl.sum(tl.where(cols[None, :] == rows[:, None], w_new, 0.0), axis=1)
        if SAME_SLOT:
            j_prev = j_rec
        else:
            j_prev = tl.load(JPREV + offs, mask=tmask, other=0.0)
        tl.store(JREC + offs, d[:, None] * (diag[:, None] * j_prev + z[None, :]), mask=tmask)
        tl.store(HREC + b * Q + rows, h, mask=rmask)
        wmask = pmask[:, None] & rmask[None, :]
        wc_rows = tl.load(WC + b * P * Q + pp[:, None] * Q + rows[None, :], mask=wmask, other=0.0)
        yacc += tl.sum(wc_rows * h[None, :], axis=1)
    tl.store(WSQ + b, tl.sum(sq_w, axis=0))
    tl.store(YREC + b * P + pp, yacc, mask=pmask)


def _blocks(state: BatchedRNNState) -> dict[str, int]:
    cfg = state.config
    block_n = triton.next_power_of_2(cfg.n_cols)
    block_q = triton.next_power_of_2(cfg.n_hidden)
    rows = max(2, min(block_q, _TILE_VALUES // block_n))
    return {
        "BLOCK_N": block_n,
        "BLOCK_P": max(2, triton.next_power_of_2(cfg.n_features)),
        "ROWS": triton.next_power_of_2(rows),
    }


def _check_layout(state: BatchedRNNState) -> None:
    for name in ("w", "wc", "slot_h", "slot_z", "slot_yhat", "slot_wc", "slot_infl", "lr", "clip"):
        if not getattr(state, name).is_contiguous():
            raise ValueError(f"state.{name} must be contiguous for the Triton kernels")


def forward_triton(
    state: BatchedRNNState,
    x: torch.Tensor,
    prev: int,
    new: int,
    signs: torch.Tensor | None,
) -> None:
    """Triton twin of :func:`~motionpredict.kernels.batched_rnn_torch.forward_torch`."""
    cfg = state.config
    if cfg.estimator not in TRITON_ESTIMATORS or cfg.as_coded:
        forward_torch(state, x, prev, new, signs)
        return
    _check_layout(state)
    causal = cfg.mode == "causal"
    if cfg.estimator == "uoro":
        assert signs is not None
        _uoro_forward_kernel[(state.batch,)](
            state.w,
            state.wc,
            x.contiguous(),
            state.slot_h[prev],
            state.slot_infl[prev],
            signs.contiguous(),
            state.slot_h[new],
            state.slot_z[new],
            state.slot_yhat[new],
            state.slot_infl[new],
            state.slot_wc[new] if causal else state.wc,
            torch.empty_like(state.slot_h[new]),
            torch.tensor(
                [UORO_EPS, float(cfg.n_hidden) ** 0.5], device=state.w.device, dtype=state.w.dtype
            ),
            cfg.n_hidden,
            cfg.n_inputs,
            cfg.n_features,
            STORE_WC=causal,
            **_blocks(state),
        )
        return
    has_j = cfg.estimator == "snap1"
    store_wa = cfg.estimator == "dni" and causal
    jprev = state.slot_infl[prev] if has_j else state.slot_h[prev]
    jnew = state.slot_infl[new] if has_j else state.slot_h[new]
    wcnew = state.slot_wc[new] if causal else state.wc
    wanew = state.slot_infl[new] if store_wa else state.w
    _forward_kernel[(state.batch,)](
        state.w,
        state.wc,
        x.contiguous(),
        state.slot_h[prev],
        jprev,
        state.slot_h[new],
        state.slot_z[new],
        state.slot_yhat[new],
        jnew,
        wcnew,
        wanew,
        cfg.n_hidden,
        cfg.n_inputs,
        cfg.n_features,
        HAS_J=has_j,
        STORE_WC=causal,
        STORE_WA=store_wa,
        **_blocks(state),
    )


def update_triton(
    state: BatchedRNNState, slot: int, target: torch.Tensor, mask: torch.Tensor
) -> None:
    """Triton twin of :func:`~motionpredict.kernels.batched_rnn_torch.update_torch`."""
    cfg = state.config
    if cfg.estimator not in TRITON_ESTIMATORS or cfg.as_coded:
        state.w_sq = state.credit_sq = None  # the twin's update keeps no norms
        update_torch(state, slot, target, mask)
        return
    _check_layout(state)
    ensure_norms(state)
    causal = cfg.mode == "causal"
    if cfg.estimator == "dni":
        _dni_update(state, slot, target, mask)
        return
    has_j = cfg.estimator in ("snap1", "uoro")
    delta = torch.empty((state.batch, cfg.n_hidden), device=state.w.device, dtype=state.w.dtype)
    _update_kernel[(state.batch,)](
        state.w,
        state.wc,
        state.slot_h[slot],
        state.slot_yhat[slot],
        state.slot_wc[slot] if causal else state.wc,
        state.slot_infl[slot] if has_j else state.slot_h[slot],
        target.contiguous(),
        mask.to(torch.int8),
        state.lr,
        state.clip,
        delta,
        state.w_sq,
        cfg.n_hidden,
        cfg.n_inputs,
        cfg.n_features,
        LEARN_W=has_j,
        UORO=cfg.estimator == "uoro",
        BLOCK_Q=triton.next_power_of_2(cfg.n_hidden),
        **_blocks(state),
    )


def _dni_update(
    state: BatchedRNNState, slot: int, target: torch.Tensor, mask: torch.Tensor
) -> None:
    cfg = state.config
    q, n = cfg.n_hidden, cfg.n_cols
    causal = cfg.mode == "causal"
    if causal:  # the W_a kept in the record, (B, Q, Q)
        warec, wa_row, wa_b = state.slot_infl[slot], q, q * q
    else:  # the current W_a = W[:, :, :Q]
        warec, wa_row, wa_b = state.w, n, q * n
    kw: TensorOptions = {"device": state.w.device, "dtype": state.w.dtype}
    blocks = _blocks(state)
    block_q = triton.next_power_of_2(q)
    # BLOCK_Q * 2 must cover R = Q + P + 1 for the final copy of the credit input
    while 2 * block_q < q + cfg.n_features + 1:
        block_q *= 2
    _dni_update_kernel[(state.batch,)](
        state.w,
        state.wc,
        state.credit,
        state.credit_in,
        state.slot_h[slot],
        state.slot_z[slot],
        state.slot_yhat[slot],
        state.slot_wc[slot] if causal else state.wc,
        warec,
        target.contiguous(),
        mask.to(torch.int8),
        state.lr,
        state.clip,
        torch.empty((state.batch, 3, q), **kw),
        torch.tensor([DNI_LR], **kw),
        state.w_sq,
        state.credit_sq,
        q,
        cfg.n_inputs,
        cfg.n_features,
        wa_row,
        wa_b,
        BLOCK_Q=block_q,
        **blocks,
    )


def rnn_step_triton(
    state: BatchedRNNState,
    y: torch.Tensor,
    *,
    lookahead: torch.Tensor | None = None,
    has_lookahead: torch.Tensor | None = None,
    active: torch.Tensor | None = None,
    sync_every: int = 1,
    fused: bool = False,
) -> torch.Tensor:
    """Triton twin of :func:`~motionpredict.kernels.batched_rnn_torch.rnn_step_torch` (same
    parameters, same result within floating-point tolerance).

    ``fused=True`` runs SnAp-1's causal step (update of the forecast issued at ``t - h`` and
    forward step of ``t``) as one launch; every other estimator and mode runs the two-launch
    kernels whatever ``fused`` says.
    """
    cfg = state.config
    one_launch = fused and cfg.estimator == "snap1" and cfg.mode == "causal" and not cfg.as_coded
    return generic_step(
        state,
        y,
        lookahead=lookahead,
        has_lookahead=has_lookahead,
        active=active,
        forward=forward_triton,
        update=update_triton,
        sync_every=sync_every,
        fused_causal=_snap1_causal_fused if one_launch else None,
    )


def _snap1_causal_fused(
    state: BatchedRNNState, slot: int, prev: int, target: torch.Tensor, learn: torch.Tensor,
    x: torch.Tensor,
) -> None:
    """Learn from slot ``slot`` (issued at ``t - h``) and run the forward step of ``t`` into it,
    in one launch (SnAp-1, causal mode)."""
    cfg = state.config
    _check_layout(state)
    ensure_norms(state)
    assert state.w_sq is not None
    _snap1_causal_fused_kernel[(state.batch,)](
        state.w,
        state.wc,
        x.contiguous(),
        state.slot_h[prev],
        state.slot_infl[prev],
        state.slot_h[slot],
        state.slot_yhat[slot],
        state.slot_wc[slot],
        state.slot_infl[slot],
        state.slot_z[slot],
        target.contiguous(),
        learn.to(torch.int8),
        state.lr,
        state.clip,
        torch.empty((state.batch, cfg.n_hidden), device=state.w.device, dtype=state.w.dtype),
        state.w_sq,
        cfg.n_hidden,
        cfg.n_inputs,
        cfg.n_features,
        SAME_SLOT=slot == prev,
        BLOCK_Q=triton.next_power_of_2(cfg.n_hidden),
        **_blocks(state),
    )


def rnn_step_triton_fused(state: BatchedRNNState, y: torch.Tensor, **kwargs: Any) -> torch.Tensor:
    """:func:`rnn_step_triton` with ``fused=True`` (same keyword arguments)."""
    return rnn_step_triton(state, y, fused=True, **kwargs)
