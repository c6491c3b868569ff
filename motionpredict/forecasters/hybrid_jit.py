"""Compiled (numba) online step of :mod:`motionpredict.forecasters.hybrid` (residual hybrids).

Imported on first use (numba loads only when a hybrid runs). The maths is documented in
:mod:`~motionpredict.forecasters.hybrid`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Frobenius-norm clip of each gradient block (``"sgd"``), as the published RNNs.
CLIP = 100.0
_CLIP = CLIP
#: Floor of the input power in the normalised step.
_EPS_N = 1e-3
#: RMSprop decay and floor.
_BETA = 0.99
_EPS_R = 1e-8


@njit(cache=True)
def hybrid_step(
    t: int, y: np.ndarray, base: np.ndarray, x: np.ndarray,
    w_a: np.ndarray, w_b: np.ndarray, w_c: np.ndarray, hid: np.ndarray, jac: np.ndarray,
    rec_h: np.ndarray, rec_j: np.ndarray, rec_r: np.ndarray, rec_b: np.ndarray,
    rec_y: np.ndarray, rec_xi2: np.ndarray,
    v_ab: np.ndarray, v_c: np.ndarray,
    horizon: int, multi: bool, bound: float, eta: float, step: int, aux: float,
    g_ab: np.ndarray, g_c: np.ndarray, out: np.ndarray,
) -> None:
    """One causal step: learn from every head whose target ``y_t`` arrived, forward, record.

    Shapes: ``y, base, out (p,)``; ``x (m,)``; ``w_a (q, q)``, ``w_b (q, m)``,
    ``w_c (n_heads, p, q)``; ``hid (q,)``; ``jac (q, q + m)``; records ``rec_* (L, ...)`` with
    ``L = horizon + 1`` slots indexed by ``t mod L``.
    """
    q = hid.shape[0]
    m = x.shape[0]
    p = y.shape[0]
    n_heads = w_c.shape[0]
    L = rec_h.shape[0]
    g_ab[:, :] = 0.0
    g_c[:, :, :] = 0.0
    learned = False
    for hi in range(n_heads):
        j = hi + 1 if multi else horizon
        t0 = t - j
        if t0 < 0:
            continue
        learned = True
        s0 = t0 % L
        final = j == horizon
        wgt = 1.0 if final else aux
        gh = np.zeros(q)
        nc = 1.0
        nab = 1.0
        if step == 1:  # normalised by the input power of each layer at issue time
            hh0 = 0.0
            for i in range(q):
                hh0 += rec_h[s0, i] ** 2
            nc = 1.0 / (_EPS_N + hh0)
            nab = 1.0 / (_EPS_N + rec_xi2[s0])
        for f in range(p):
            r = rec_r[s0, hi, f]
            if final:
                c = bound * math.tanh(r / bound)
                d = y[f] - rec_b[s0, f]
                g = (c - d) * (1.0 - (c / bound) ** 2) * wgt
            else:
                d = y[f] - rec_y[s0, f]
                g = (r - d) * wgt
            for i in range(q):
                g_c[hi, f, i] += g * nc * rec_h[s0, i]
                gh[i] += w_c[hi, f, i] * g
        for i in range(q):
            gi = gh[i] * nab
            if gi != 0.0:
                for c2 in range(q + m):
                    g_ab[i, c2] += gi * rec_j[s0, i, c2]
    if learned:
        if step == 0:  # sgd with clipping per block
            sa = 0.0
            sb = 0.0
            for i in range(q):
                for c2 in range(q):
                    sa += g_ab[i, c2] ** 2
                for c2 in range(q, q + m):
                    sb += g_ab[i, c2] ** 2
            sc = 0.0
            for hi in range(n_heads):
                for f in range(p):
                    for i in range(q):
                        sc += g_c[hi, f, i] ** 2
            fa = eta * min(1.0, _CLIP / math.sqrt(sa)) if sa > 0 else eta
            fb = eta * min(1.0, _CLIP / math.sqrt(sb)) if sb > 0 else eta
            fc = eta * min(1.0, _CLIP / math.sqrt(sc)) if sc > 0 else eta
            for i in range(q):
                for c2 in range(q):
                    w_a[i, c2] -= fa * g_ab[i, c2]
                for c2 in range(m):
                    w_b[i, c2] -= fb * g_ab[i, q + c2]
            for hi in range(n_heads):
                for f in range(p):
                    for i in range(q):
                        w_c[hi, f, i] -= fc * g_c[hi, f, i]
        elif step == 1:  # normalised: gradients already divided by the input power
            for i in range(q):
                for c2 in range(q):
                    w_a[i, c2] -= eta * g_ab[i, c2]
                for c2 in range(m):
                    w_b[i, c2] -= eta * g_ab[i, q + c2]
            for hi in range(n_heads):
                for f in range(p):
                    for i in range(q):
                        w_c[hi, f, i] -= eta * g_c[hi, f, i]
        else:  # rmsprop: per-parameter step sizes
            for i in range(q):
                for c2 in range(q + m):
                    g = g_ab[i, c2]
                    v = _BETA * v_ab[i, c2] + (1.0 - _BETA) * g * g
                    v_ab[i, c2] = v
                    dw = eta * g / (math.sqrt(v) + _EPS_R)
                    if c2 < q:
                        w_a[i, c2] -= dw
                    else:
                        w_b[i, c2 - q] -= dw
            for hi in range(n_heads):
                for f in range(p):
                    for i in range(q):
                        g = g_c[hi, f, i]
                        v = _BETA * v_c[hi, f, i] + (1.0 - _BETA) * g * g
                        v_c[hi, f, i] = v
                        w_c[hi, f, i] -= eta * g / (math.sqrt(v) + _EPS_R)
    # forward with the updated weights, SnAp-1 influence update
    s = t % L
    xi2 = 0.0
    newh = np.empty(q)
    for i in range(q):
        z = 0.0
        for c2 in range(q):
            z += w_a[i, c2] * hid[c2]
        for c2 in range(m):
            z += w_b[i, c2] * x[c2]
        newh[i] = math.tanh(z)
    for c2 in range(q):
        xi2 += hid[c2] ** 2
    for c2 in range(m):
        xi2 += x[c2] ** 2
    for i in range(q):
        dphi = 1.0 - newh[i] ** 2
        decay = dphi * w_a[i, i]
        for c2 in range(q):
            v = decay * jac[i, c2] + dphi * hid[c2]
            jac[i, c2] = v
            rec_j[s, i, c2] = v
        for c2 in range(m):
            v = decay * jac[i, q + c2] + dphi * x[c2]
            jac[i, q + c2] = v
            rec_j[s, i, q + c2] = v
    for i in range(q):
        hid[i] = newh[i]
        rec_h[s, i] = newh[i]
    rec_xi2[s] = xi2
    for hi in range(n_heads):
        for f in range(p):
            r = 0.0
            for i in range(q):
                r += w_c[hi, f, i] * newh[i]
            rec_r[s, hi, f] = r
    for f in range(p):
        rec_b[s, f] = base[f]
        rec_y[s, f] = y[f]
        out[f] = base[f] + bound * math.tanh(rec_r[s, n_heads - 1, f] / bound)
