"""Compiled (numba) single-step kernels of the online RNN forecasters (SnAp-1, UORO, DNI, fixed).

One call performs a whole online step of :meth:`~motionpredict.forecasters.rnn_core.OnlineRNN.step`
(input shift, the causal learning step from the record of ``t - h``, forward, estimator update,
forecast, record push or the reference-mode learning step, and a cheap health summary) on the
forecaster's own numpy arrays, in place and without allocating. The order of the operations and
every formula are those of the numpy specification in :mod:`~motionpredict.forecasters.rnn_core`
and the method modules (the kernels are tested against it to 1e-12 in float64); only loops are
fused so that each large matrix (``W_ab``, the influence estimate, DNI's ``A``) is swept at most
twice per step:

* causal mode: the SGD update of ``W_ab`` from the popped record is fused with the forward product
  ``W_ab xi`` (and UORO's tangent ``W_a s``) in one sweep; the estimator update writes the new
  influence estimate to the live array and to the causal record slot in the same sweep (no copy);
* the squared Frobenius norms needed for clipping (per block ``[:, :q]`` and ``[:, q:]``) are
  accumulated while the influence estimate is written and kept in the record (``jsq`` for
  SnAp-1, ``tsq`` for UORO), so the learning step needs no extra sweep.

Reductions are compiled with ``fastmath={"reassoc", "contract"}`` (sums may be reordered and use
FMA; NaN and Inf keep their IEEE meaning), so results agree with the numpy path to rounding
(~1e-15 relative), not bit for bit.

Hot loops start at index 0 over slices (``row[:q]``, ``row[q:]``) and keep the stored value in a
local (``v = ...; row[c] = v; ss += v * v``): a loop ``range(q, n)`` over the full row, or one that
reloads ``row[c]`` after storing it, is not vectorised by LLVM and runs ~3x slower.

Every kernel returns ``-1`` when the sample is not finite (nothing is changed), ``0`` when the
forecast is finite, ``|yhat| <= 1e6`` and every weight matrix has a squared norm below
``DIVERGENCE_NORM**2`` (with a 1e-9 relative margin), and ``1`` otherwise: the caller then runs
the exact checks of :meth:`~motionpredict.forecasters.base.Forecaster.step`.

Record queues are the :class:`~motionpredict.forecasters.rnn_core.CausalQueue` buffers
(``(h, ...)`` arrays) with ``pos = [head, size]``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Refolding range of SnAp-1's row scale (as :mod:`~motionpredict.forecasters.rnn_snap1`).
SNAP_LOW, SNAP_HIGH = 1e-100, 1e100
#: Refolding range of UORO's scalar ``kappa`` (as :mod:`~motionpredict.forecasters.rnn_uoro`).
UORO_LOW, UORO_HIGH = 1e-30, 1e30
#: Squared-norm limit below which the weights count as healthy (``1e4**2`` minus a margin).
_SS_LIMIT = 1e8 * (1.0 - 1e-9)
_PRED_LIMIT = 1e6

_FM = {"reassoc", "contract"}


# ---------------------------------------------------------------------------------- helpers
@njit(cache=True)
def _finite(v: np.ndarray) -> bool:
    for i in range(v.shape[0]):
        if not math.isfinite(v[i]):
            return False
    return True


@njit(cache=True)
def _push_input(xi: np.ndarray, y: np.ndarray, q: int, k: int, n_seen: int) -> None:
    """Shift ``y`` into ``x = xi[q:]`` (bias at ``xi[q]``, then ``k`` samples oldest first)."""
    p = y.shape[0]
    base = q + 1
    if n_seen == 0:
        for j in range(k):
            for a in range(p):
                xi[base + j * p + a] = y[a]
    else:
        for c in range(base, base + (k - 1) * p):
            xi[c] = xi[c + p]
        last = base + (k - 1) * p
        for a in range(p):
            xi[last + a] = y[a]


@njit(cache=True, fastmath=_FM)
def _sumsq(v: np.ndarray) -> float:
    acc = 0.0
    for i in range(v.shape[0]):
        acc += v[i] * v[i]
    return acc


@njit(cache=True, fastmath=_FM)
def _sumsq2(m: np.ndarray) -> float:
    acc = 0.0
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            acc += m[i, j] * m[i, j]
    return acc


@njit(cache=True, fastmath=_FM)
def _error_and_gh(
    yhat: np.ndarray, target: np.ndarray, w_c: np.ndarray, e: np.ndarray, g_h: np.ndarray
) -> None:
    """``e = yhat - target``; ``g_h = W_c^T e``."""
    p, q = w_c.shape
    for a in range(p):
        e[a] = yhat[a] - target[a]
    for j in range(q):
        g_h[j] = 0.0
    for a in range(p):
        ea = e[a]
        for j in range(q):
            g_h[j] += w_c[a, j] * ea


@njit(cache=True, fastmath=_FM)
def _learn_readout(
    w_c: np.ndarray, e: np.ndarray, h_rec: np.ndarray, eta: float, clip: float
) -> None:
    """``W_c <- W_c - eta clip(e h^T)`` (Frobenius clipping, as ``clip_in_place``)."""
    p, q = w_c.shape
    sq = 0.0
    for a in range(p):
        for j in range(q):
            g = e[a] * h_rec[j]
            sq += g * g
    norm = math.sqrt(sq)
    clipped = norm > clip
    factor = clip / norm if clipped else 1.0
    for a in range(p):
        for j in range(q):
            g = e[a] * h_rec[j]
            if clipped:
                g *= factor
            w_c[a, j] -= eta * g


@njit(cache=True)
def _clip_factor(norm: float, threshold: float) -> float:
    return threshold / norm if norm > threshold else 1.0


@njit(cache=True)
def _block_factors(sq_total: float, sq_a: float, clip: float) -> tuple[float, float]:
    """As ``OnlineRNN._block_factors``: clipping factors of ``G_a`` and ``G_b``."""
    sq_b = sq_total - sq_a if sq_total >= sq_a else 0.0
    return _clip_factor(math.sqrt(sq_a), clip), _clip_factor(math.sqrt(sq_b), clip)


@njit(cache=True)
def _matrix_alphas(
    sq_total: float, sq_a: float, clip: float, eta: float, scale: float
) -> tuple[float, float]:
    """Step factors ``-eta f scale`` of ``G_a``, ``G_b`` as ``OnlineRNN._apply_gradient``."""
    if sq_total <= clip * clip:
        fa = fb = 1.0
    else:
        fa, fb = _block_factors(sq_total, sq_a, clip)
    return -(eta * fa * scale), -(eta * fb * scale)


@njit(cache=True, fastmath=_FM)
def _forward_rows(
    w: np.ndarray,
    xi: np.ndarray,
    z: np.ndarray,
    h: np.ndarray,
    dphi: np.ndarray,
    learn: int,
    m: np.ndarray,
    r: np.ndarray,
    alpha_a: float,
    alpha_b: float,
    u: np.ndarray,
    xs: np.ndarray,
    s: np.ndarray,
    tangent: np.ndarray,
    wa_rec: np.ndarray,
    copy_wa: bool,
) -> float:
    """Optional SGD update of ``W_ab`` fused with ``z = W_ab xi``, ``h = tanh z``, ``phi'``.

    ``learn``: 0 none; 1 matrix gradient ``W[i, c] += alpha_blk (m[i, c] r[i])``; 2 rank one
    ``W[i, c] += xs[c] u[i]``. When ``tangent`` has ``q`` entries it receives ``W_a s``; when
    ``copy_wa`` the updated ``W_a`` is copied to ``wa_rec``. Returns ``||W_ab||^2``.
    """
    q, n = w.shape
    do_tan = tangent.shape[0] == q
    ss = 0.0
    for i in range(q):
        row = w[i]
        if learn == 1:
            _axpy_rows(row, m[i], r[i], alpha_a, alpha_b, q)
        elif learn == 2:
            ui = u[i]
            for c in range(n):
                row[c] += xs[c] * ui
        acc = 0.0
        for c in range(n):
            acc += row[c] * xi[c]
            ss += row[c] * row[c]
        z[i] = acc
        if do_tan:
            t = 0.0
            for c in range(q):
                t += row[c] * s[c]
            tangent[i] = t
        if copy_wa:
            for c in range(q):
                wa_rec[i, c] = row[c]
    for i in range(q):
        hi = math.tanh(z[i])
        h[i] = hi
        dphi[i] = 1.0 - hi * hi
    return ss


@njit(cache=True, fastmath=_FM)
def _axpy_rows(row: np.ndarray, mr: np.ndarray, ri: float, alpha_a: float, alpha_b: float, q: int):
    """``row[:q] += alpha_a (mr[:q] ri)``, ``row[q:] += alpha_b (mr[q:] ri)``; returns
    ``||row||^2`` after the update."""
    ra = row[:q]
    ma = mr[:q]
    rb = row[q:]
    mb = mr[q:]
    ss = 0.0
    for c in range(ra.shape[0]):
        v = ra[c] + alpha_a * (ma[c] * ri)
        ra[c] = v
        ss += v * v
    for c in range(rb.shape[0]):
        v = rb[c] + alpha_b * (mb[c] * ri)
        rb[c] = v
        ss += v * v
    return ss


@njit(cache=True, fastmath=_FM)
def _update_matrix(
    w: np.ndarray, m: np.ndarray, r: np.ndarray, alpha_a: float, alpha_b: float
) -> float:
    """``W[i, c] += alpha_blk (m[i, c] r[i])``; returns ``||W||^2``."""
    q = w.shape[0]
    ss = 0.0
    for i in range(q):
        ss += _axpy_rows(w[i], m[i], r[i], alpha_a, alpha_b, q)
    return ss


@njit(cache=True, fastmath=_FM)
def _update_rank_one(w: np.ndarray, xs: np.ndarray, u: np.ndarray) -> float:
    """``W[i, c] += xs[c] u[i]``; returns ``||W||^2``."""
    q, n = w.shape
    ss = 0.0
    for i in range(q):
        row = w[i]
        ui = u[i]
        for c in range(n):
            v = row[c] + xs[c] * ui
            row[c] = v
            ss += v * v
    return ss


@njit(cache=True, fastmath=_FM)
def _readout(w_c: np.ndarray, hvec: np.ndarray, out: np.ndarray) -> None:
    p, q = w_c.shape
    for a in range(p):
        acc = 0.0
        for j in range(q):
            acc += w_c[a, j] * hvec[j]
        out[a] = acc


@njit(cache=True)
def _health(out: np.ndarray, ss_ab: float, w_c: np.ndarray, ss_extra: float) -> int:
    for a in range(out.shape[0]):
        v = out[a]
        if not math.isfinite(v) or abs(v) > _PRED_LIMIT:
            return 1
    ss_c = _sumsq2(w_c)
    if not (ss_ab < _SS_LIMIT and ss_c < _SS_LIMIT and ss_extra < _SS_LIMIT):
        return 1
    return 0


@njit(cache=True)
def _pop(pos: np.ndarray, length: int) -> int:
    slot = pos[0]
    pos[0] = (slot + 1) % length
    pos[1] -= 1
    return slot


@njit(cache=True)
def _push_generic(
    slot: int,
    pos: np.ndarray,
    qh: np.ndarray,
    qxi: np.ndarray,
    qdphi: np.ndarray,
    qyhat: np.ndarray,
    qwc: np.ndarray,
    h_rec: np.ndarray,
    xi: np.ndarray,
    dphi: np.ndarray,
    yhat: np.ndarray,
    w_c: np.ndarray,
) -> None:
    """Copy the generic part of the step's record into ``slot`` (size + 1)."""
    qh[slot, :] = h_rec
    qxi[slot, :] = xi
    qdphi[slot, :] = dphi
    qyhat[slot, :] = yhat
    qwc[slot, :, :] = w_c
    pos[1] += 1


# ---------------------------------------------------------------------------------- fixed weights
@njit(cache=True)
def fixed_step(
    y, look, has_look, causal, n_seen, k, eta, clip,
    w_ab, w_c, h, z, dphi, xi, e,
    pos, qh, qxi, qdphi, qyhat, qwc, out,
):  # fmt: skip
    """One step of the fixed-weights RNN (only ``W_c`` learns); see the module docstring."""
    q = h.shape[0]
    if not _finite(y):
        return -1
    _push_input(xi, y, q, k, n_seen)
    length = qh.shape[0]
    if causal and pos[1] == length:
        r = _pop(pos, length)
        for a in range(y.shape[0]):
            e[a] = qyhat[r, a] - y[a]
        _learn_readout(w_c, e, qh[r], eta, clip)
    xi[:q] = h
    ss = _forward_rows(w_ab, xi, z, h, dphi, 0, w_ab, h, 0.0, 0.0, h, xi, h, e[:0], w_ab, False)
    _readout(w_c, h, out)
    if causal:
        slot = (pos[0] + pos[1]) % length
        _push_generic(slot, pos, qh, qxi, qdphi, qyhat, qwc, h, xi, dphi, out, w_c)
    elif has_look:
        for a in range(y.shape[0]):
            e[a] = out[a] - look[a]
        _learn_readout(w_c, e, h, eta, clip)
    return _health(out, ss, w_c, 0.0)


# ---------------------------------------------------------------------------------- SnAp-1
@njit(cache=True, fastmath=_FM)
def _snap_alphas(
    g_h: np.ndarray, s: np.ndarray, jsq: np.ndarray, cg: np.ndarray, clip: float, eta: float
) -> tuple[float, float]:
    """``cg = g_h * s`` (row factors of ``G = diag(cg) Jt``) and the step factors of ``G``."""
    sq_total = 0.0
    sq_a = 0.0
    for i in range(cg.shape[0]):
        c = g_h[i] * s[i]
        cg[i] = c
        c2 = c * c
        sq_total += c2 * (jsq[i, 0] + jsq[i, 1])
        sq_a += c2 * jsq[i, 0]
    return _matrix_alphas(sq_total, sq_a, clip, eta, 1.0)


@njit(cache=True, fastmath=_FM)
def _rank_one_row(row: np.ndarray, x: np.ndarray, ai: float) -> float:
    """``row += x ai`` in place; returns ``||row||^2``."""
    ss = 0.0
    for c in range(row.shape[0]):
        v = row[c] + x[c] * ai
        row[c] = v
        ss += v * v
    return ss


@njit(cache=True, fastmath=_FM)
def _rank_one_copy(src: np.ndarray, dst: np.ndarray, x: np.ndarray, ai: float) -> float:
    """``dst = src + x ai`` (distinct arrays); returns ``||dst||^2``."""
    ss = 0.0
    for c in range(dst.shape[0]):
        v = src[c] + x[c] * ai
        dst[c] = v
        ss += v * v
    return ss


@njit(cache=True)
def _rank_one_update(
    src: np.ndarray, dst: np.ndarray, x: np.ndarray, ai: float, q: int, fold: float, folded: bool
) -> tuple[float, float]:
    """``dst = fold src + x ai`` for one row (``fold`` only when ``folded``; ``src`` may be
    ``dst``); returns the squared norms of ``dst[:q]`` and ``dst[q:]``."""
    if folded:
        for c in range(dst.shape[0]):
            dst[c] = src[c] * fold
    if folded or src.ctypes.data == dst.ctypes.data:
        return _rank_one_row(dst[:q], x[:q], ai), _rank_one_row(dst[q:], x[q:], ai)
    return (
        _rank_one_copy(src[:q], dst[:q], x[:q], ai),
        _rank_one_copy(src[q:], dst[q:], x[q:], ai),
    )


@njit(cache=True, fastmath=_FM)
def _snap_advance(
    w: np.ndarray,
    dphi: np.ndarray,
    xi: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    s: np.ndarray,
    jsq: np.ndarray,
    a: np.ndarray,
) -> None:
    """``s *= phi' diag(W_a)``, refold rows out of range, ``Jt_t = Jt_{t-1} + (phi'/s) xi^T``
    read from ``src`` and written to ``dst`` (the same array in reference mode), with the
    per-block row sums of squares in ``jsq``."""
    q = src.shape[0]
    for i in range(q):
        si = s[i] * dphi[i]
        si = si * w[i, i]
        fold = 1.0
        folded = False
        asi = abs(si)
        if asi < SNAP_LOW or asi > SNAP_HIGH:
            fold = si
            folded = True
            si = 1.0
        s[i] = si
        ai = dphi[i] / si
        a[i] = ai
        sa, sb = _rank_one_update(src[i], dst[i], xi, ai, q, fold, folded)
        jsq[i, 0] = sa
        jsq[i, 1] = sb


@njit(cache=True)
def snap1_step(
    y, look, has_look, causal, n_seen, k, eta, clip,
    w_ab, w_c, h, z, dphi, xi, jt, s, jsq, a, cg, g_h, e,
    pos, qh, qxi, qdphi, qyhat, qwc, qjt, qs, qjsq, out,
):  # fmt: skip
    """One SnAp-1 step; see the module docstring and :mod:`.rnn_snap1`."""
    q = h.shape[0]
    if not _finite(y):
        return -1
    _push_input(xi, y, q, k, n_seen)
    length = qh.shape[0]
    learn = 0
    alpha_a = alpha_b = 0.0
    r = 0
    # causal: the live estimate is the newest record (or jt while the queue is empty)
    newest = (pos[0] + pos[1] - 1) % length if pos[1] > 0 else -1
    if causal and pos[1] == length:
        r = _pop(pos, length)
        _error_and_gh(qyhat[r], y, qwc[r], e, g_h)
        alpha_a, alpha_b = _snap_alphas(g_h, qs[r], qjsq[r], cg, clip, eta)
        _learn_readout(w_c, e, qh[r], eta, clip)
        learn = 1
    slot = (pos[0] + pos[1]) % length
    xi[:q] = h
    ss = _forward_rows(
        w_ab, xi, z, h, dphi, learn, qjt[r], cg, alpha_a, alpha_b, cg, xi, s, e[:0], w_ab, False
    )
    if causal:
        src = qjt[newest] if newest >= 0 else jt
        _snap_advance(w_ab, dphi, xi, src, qjt[slot], s, jsq, a)
    else:
        _snap_advance(w_ab, dphi, xi, jt, jt, s, jsq, a)
    _readout(w_c, h, out)
    if causal:
        _push_generic(slot, pos, qh, qxi, qdphi, qyhat, qwc, h, xi, dphi, out, w_c)
        qs[slot, :] = s
        qjsq[slot, :, :] = jsq
    elif has_look:
        _error_and_gh(out, look, w_c, e, g_h)
        alpha_a, alpha_b = _snap_alphas(g_h, s, jsq, cg, clip, eta)
        ss = _update_matrix(w_ab, jt, cg, alpha_a, alpha_b)
        _learn_readout(w_c, e, h, eta, clip)
    return _health(out, ss, w_c, 0.0)


# ---------------------------------------------------------------------------------- UORO
@njit(cache=True, fastmath=_FM)
def _uoro_advance(
    z, h, dphi, xi, s, theta, kappa, tsq, s_prev, theta_prev, kappa_prev, tsq_prev,
    tangent, a, nu_row, eps, as_coded, rec_theta, to_rec, src, dst,
):  # fmt: skip
    """UORO estimator update after the forward step (``tangent`` holds ``W_a s_{t-1}``).

    ``Theta_t`` is computed from ``src`` into ``dst`` (``theta`` itself except in causal mode of
    the correct variant, where the live estimate is the newest record); in the ``as-coded``
    variant ``theta_prev`` (and ``rec_theta`` when ``to_rec``) receive ``Theta_{t-1}``.
    """
    q, n = theta.shape
    if as_coded:
        s_prev[:] = s
        kappa_prev[0] = kappa[0]
        tsq_prev[0] = tsq[0]
        tsq_prev[1] = tsq[1]
    for i in range(q):
        if as_coded:
            tangent[i] = (math.tanh(z[i] + eps * tangent[i]) - h[i]) / eps
        else:
            tangent[i] *= dphi[i]
    sa = 0.0
    for i in range(q):
        nu = nu_row[i] * 2.0 - 1.0
        a[i] = nu * dphi[i]
        sa += a[i] * a[i]
    norm_g = math.sqrt(sa) * math.sqrt(_sumsq(xi))
    norm_theta = abs(kappa[0]) * math.sqrt(tsq[0] + tsq[1])
    rho0 = math.sqrt(norm_theta / (math.sqrt(_sumsq(tangent)) + eps)) + eps
    rho1 = math.sqrt(norm_g / (math.sqrt(q) + eps)) + eps
    for i in range(q):
        s[i] = tangent[i] * rho0
        s[i] += rho1 * (nu_row[i] * 2.0 - 1.0)
    kap = kappa[0] / rho0
    folded = not (UORO_LOW < abs(kap) < UORO_HIGH)
    fold = kap
    if folded:
        kap = 1.0
    kappa[0] = kap
    mult = 1.0 / (rho1 * kap)
    for i in range(q):
        a[i] *= mult
    ta = 0.0
    tb = 0.0
    for i in range(q):
        if as_coded:  # theta_prev (and the record) keep the estimate before this update
            prev = theta_prev[i]
            row = theta[i]
            for c in range(n):
                prev[c] = row[c]
            if to_rec:
                rrow = rec_theta[i]
                for c in range(n):
                    rrow[c] = row[c]
        sa, sb = _rank_one_update(src[i], dst[i], xi, a[i], q, fold, folded)
        ta += sa
        tb += sb
    tsq[0] = ta
    tsq[1] = tb


@njit(cache=True)
def uoro_step(
    y, look, has_look, causal, as_coded, n_seen, k, eta, clip, eps,
    w_ab, w_c, h, z, dphi, xi, s, theta, kappa, tsq, s_prev, theta_prev, kappa_prev, tsq_prev,
    tangent, a, ones, g_h, e, signs, ctr,
    pos, qh, qxi, qdphi, qyhat, qwc, qs, qtheta, qkappa, qtsq, out,
):  # fmt: skip
    """One UORO step (correct or ``as-coded`` variant); see :mod:`.rnn_uoro`.

    ``signs`` is a pool of draws ``rng.integers(0, 2, (N, q))`` consumed one row per step
    (``ctr[0]`` is the next row; the caller refills it).
    """
    q = h.shape[0]
    if not _finite(y):
        return -1
    _push_input(xi, y, q, k, n_seen)
    length = qh.shape[0]
    learn = 0
    alpha_a = alpha_b = 0.0
    r = 0
    # causal, correct variant: the live estimate is the newest record (theta while none)
    newest = (pos[0] + pos[1] - 1) % length if pos[1] > 0 else -1
    if causal and pos[1] == length:
        r = _pop(pos, length)
        _error_and_gh(qyhat[r], y, qwc[r], e, g_h)
        scale = 0.0
        for i in range(q):
            scale += g_h[i] * qs[r, i]
        scale *= qkappa[r, 0]
        s2 = scale * scale
        alpha_a, alpha_b = _matrix_alphas(
            s2 * (qtsq[r, 0] + qtsq[r, 1]), s2 * qtsq[r, 0], clip, eta, scale
        )
        _learn_readout(w_c, e, qh[r], eta, clip)
        learn = 1
    slot = (pos[0] + pos[1]) % length
    xi[:q] = h
    ss = _forward_rows(
        w_ab, xi, z, h, dphi, learn, qtheta[r], ones, alpha_a, alpha_b, ones, xi, s, tangent,
        w_ab, False,
    )
    row = ctr[0]
    ctr[0] = row + 1
    in_queue = causal and not as_coded
    src = qtheta[newest] if in_queue and newest >= 0 else theta
    dst = qtheta[slot] if in_queue else theta
    _uoro_advance(
        z, h, dphi, xi, s, theta, kappa, tsq, s_prev, theta_prev, kappa_prev, tsq_prev,
        tangent, a, signs[row], eps, as_coded, qtheta[slot], causal, src, dst,
    )
    h_rec = xi[:q] if as_coded else h
    _readout(w_c, h_rec, out)
    if causal:
        _push_generic(slot, pos, qh, qxi, qdphi, qyhat, qwc, h_rec, xi, dphi, out, w_c)
        if as_coded:
            qs[slot, :] = s_prev
            qkappa[slot, 0] = kappa_prev[0]
            qtsq[slot, :] = tsq_prev
        else:
            qs[slot, :] = s
            qkappa[slot, 0] = kappa[0]
            qtsq[slot, :] = tsq
    elif has_look:
        _error_and_gh(out, look, w_c, e, g_h)
        s_r = s_prev if as_coded else s
        kappa_r = kappa_prev[0] if as_coded else kappa[0]
        tsq_r = tsq_prev if as_coded else tsq
        theta_r = theta_prev if as_coded else theta
        scale = 0.0
        for i in range(q):
            scale += g_h[i] * s_r[i]
        scale *= kappa_r
        s2 = scale * scale
        alpha_a, alpha_b = _matrix_alphas(
            s2 * (tsq_r[0] + tsq_r[1]), s2 * tsq_r[0], clip, eta, scale
        )
        ss = _update_matrix(w_ab, theta_r, ones, alpha_a, alpha_b)
        _learn_readout(w_c, e, h_rec, eta, clip)
    return _health(out, ss, w_c, 0.0)


# ---------------------------------------------------------------------------------- DNI
@njit(cache=True, fastmath=_FM)
def _dni_learn(
    q, eta, clip, lr_a, h_r, xi_r, dphi_r, target, w_a_r, A, xt_prev, xt_next,
    c_prev, c_next, f, f_dt, u, g_h, xs, closs,
):  # fmt: skip
    """Credit model update and the rank-one step factors (``u``, ``xs``) of :mod:`.rnn_dni`.

    ``g_h`` must hold ``W_c^T e``; ``W_a`` is ``w_a_r[:, :q]`` (``w_a_r`` may be ``W_ab``, so that
    every call sees C-contiguous rows). Returns ``||A||^2`` after the update.
    """
    p = target.shape[0]
    n_a = A.shape[0]
    for i in range(q):
        xt_next[i] = h_r[i]
    for j in range(p):
        xt_next[q + j] = target[j]
    for j in range(q):
        c_prev[j] = 0.0
        c_next[j] = 0.0
    for r in range(n_a):
        xp = xt_prev[r]
        xn = xt_next[r]
        arow = A[r]
        for j in range(q):
            c_prev[j] += xp * arow[j]
            c_next[j] += xn * arow[j]
    # f = c_prev - g_h - (c_next * dphi) @ W_a ; v = (c_next * dphi)
    for j in range(q):
        f[j] = 0.0
    for i in range(q):
        vi = c_next[i] * dphi_r[i]
        wrow = w_a_r[i]
        for j in range(q):
            f[j] += vi * wrow[j]
    sf = 0.0
    for j in range(q):
        f[j] = (c_prev[j] - g_h[j]) - f[j]
        sf += f[j] * f[j]
    closs[0] = 0.5 * sf
    for i in range(q):
        acc = 0.0
        wrow = w_a_r[i]
        for j in range(q):
            acc += wrow[j] * f[j]
        f_dt[i] = dphi_r[i] * acc
    ss_a = 0.0
    for j in range(q):
        c_prev[j] = 0.0  # becomes c = xt_prev @ A (updated A)
    for r in range(n_a):
        mp = -lr_a * xt_prev[r]
        mn = lr_a * xt_next[r]
        xp = xt_prev[r]
        arow = A[r]
        for j in range(q):
            v = arow[j] + f[j] * mp
            v = v + f_dt[j] * mn
            arow[j] = v
            ss_a += v * v
            c_prev[j] += xp * v
    for r in range(n_a):
        xt_prev[r] = xt_next[r]
    su = 0.0
    for i in range(q):
        u[i] = c_prev[i] * dphi_r[i]
        su += u[i] * u[i]
    sxa = 0.0
    sxb = 0.0
    n = xi_r.shape[0]
    for c in range(q):
        sxa += xi_r[c] * xi_r[c]
    for c in range(q, n):
        sxb += xi_r[c] * xi_r[c]
    fa, fb = _block_factors(su * (sxa + sxb), su * sxa, clip)
    for c in range(q):
        xs[c] = xi_r[c] * fa
    for c in range(q, n):
        xs[c] = xi_r[c] * fb
    for i in range(q):
        u[i] = -eta * u[i]  # rank-one step W += xs u^T (as BLAS dger with alpha = -eta)
    return ss_a


@njit(cache=True)
def dni_step(
    y, look, has_look, causal, n_seen, k, eta, clip, lr_a,
    w_ab, w_c, h, z, dphi, xi, A, xt_prev, xt_next, c_prev, c_next, f, f_dt, u, g_h, e, xs,
    closs, pos, qh, qxi, qdphi, qyhat, qwc, qwa, out,
):  # fmt: skip
    """One DNI step; see :mod:`.rnn_dni`."""
    q = h.shape[0]
    if not _finite(y):
        return -1
    _push_input(xi, y, q, k, n_seen)
    length = qh.shape[0]
    learn = 0
    ss_a = -1.0
    if causal and pos[1] == length:
        r = _pop(pos, length)
        _error_and_gh(qyhat[r], y, qwc[r], e, g_h)
        ss_a = _dni_learn(
            q, eta, clip, lr_a, qh[r], qxi[r], qdphi[r], y, qwa[r], A, xt_prev, xt_next,
            c_prev, c_next, f, f_dt, u, g_h, xs, closs,
        )
        _learn_readout(w_c, e, qh[r], eta, clip)
        learn = 2
    slot = (pos[0] + pos[1]) % length
    xi[:q] = h
    ss = _forward_rows(
        w_ab, xi, z, h, dphi, learn, w_ab, u, 0.0, 0.0, u, xs, h, e[:0], qwa[slot], causal
    )
    _readout(w_c, h, out)
    if causal:
        _push_generic(slot, pos, qh, qxi, qdphi, qyhat, qwc, h, xi, dphi, out, w_c)
    elif has_look:
        _error_and_gh(out, look, w_c, e, g_h)
        ss_a = _dni_learn(
            q, eta, clip, lr_a, h, xi, dphi, look, w_ab, A, xt_prev, xt_next,
            c_prev, c_next, f, f_dt, u, g_h, xs, closs,
        )
        ss = _update_rank_one(w_ab, xs, u)
        _learn_readout(w_c, e, h, eta, clip)
    if ss_a < 0.0:
        ss_a = _sumsq2(A)
    return _health(out, ss, w_c, ss_a)
