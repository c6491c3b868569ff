"""Fused CPU back-end of 2D Lucas-Kanade: numba per-pixel kernels around OpenCV filters.

Same algorithm and same numerics as the NumPy back-end (:mod:`.backend_numpy`, the
specification): the same sampled Gaussian kernels with mirror borders (``cv2.sepFilter2D``, the
two components of the mismatch vector and of the fill-in filtered in one two-channel call), the
same exact bilinear interpolation (the NumPy back-end's float32 formula, not OpenCV ``remap``'s
1/32 px weights). What changes is the bookkeeping: warping, the inside mask, the intensity
normalisation statistics (float64 sums), the mismatch products, the update step and the
normalised-convolution fill-in of one pyramid level each run as one single-threaded numba pass
instead of a dozen temporary NumPy arrays. Fields agree with the NumPy back-end to float32
round-off (about 1e-4 px; see tests/registration/test_fast_backend.py).

3D images fall back to the NumPy code.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numba
import numpy as np

from motionpredict.registration.backend_numpy import NumpyBackend
from motionpredict.registration.pyramid import upsample_flow


class FastBackend(NumpyBackend):
    """NumPy back-end with fused numba kernels for 2D Lucas-Kanade (float32, one thread)."""

    name = "fast"

    def gaussian_channels(self, x: np.ndarray, sigma: float, truncate: float) -> np.ndarray:
        """Gaussian filter of the planes of a channel-last ``(H, W, C)`` (C <= 4) image.

        The NumPy back-end's sampled kernel and mirror borders, all channels in one
        ``cv2.sepFilter2D`` call; ``sigma <= 0``: identity.
        """
        if sigma <= 0:
            return x
        k = self.kernel(sigma, truncate)
        if k.size // 2 < min(x.shape[:2]):
            return cv2.sepFilter2D(x, -1, k, k, borderType=cv2.BORDER_REFLECT_101)
        return np.stack([self.gaussian(np.ascontiguousarray(x[..., i]), sigma, truncate)
                         for i in range(x.shape[2])], axis=-1)

    def pull(self, image: np.ndarray, flow: np.ndarray) -> np.ndarray:
        """Exact bilinear ``image(x + flow(x))`` (positions clamped), numba for 2D."""
        if image.ndim != 2 or min(image.shape) < 2:
            return super().pull(image, flow)
        out = np.empty(image.shape, np.float32)
        _pull2d(np.ascontiguousarray(image, dtype=np.float32),
                np.ascontiguousarray(flow, dtype=np.float32), out)
        return out

    def upsample_flow(self, u: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """:func:`~.pyramid.upsample_flow` of a 2D flow ``(2, h, w)`` to ``(2, *shape)`` px in
        one numba pass (same interpolation and rounding); other shapes through NumPy."""
        if u.ndim != 3 or len(shape) != 2 or any(
                (int(s) + 1) // 2 != c for s, c in zip(shape, u.shape[1:], strict=True)):
            return upsample_flow(self, u, shape)
        out = np.empty((u.shape[0], int(shape[0]), int(shape[1])), np.float32)
        _upsample2d(np.ascontiguousarray(u, dtype=np.float32), out)
        return out

    # ------------------------------------------------------------------ fused LK iteration
    def refine_2d(self, lk: Any, level: Any, moving: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The iterations and fill-in of one pyramid level (:meth:`LucasKanade._refine`).

        Parameters
        ----------
        lk
            The :class:`~.lucas_kanade.LucasKanade` instance (its ``params``).
        level
            Reference data of the level (image, gradients, inverse tensor, confidence).
        moving
            ``(H, W)`` float32 moving image of the level, ``H, W >= 2``.
        u
            ``(2, H, W)`` float32 flow in px of the level.

        Returns
        -------
        ``(2, H, W)`` float32 refined flow in px.
        """
        p = lk.params
        h, w = level.shape
        u = np.array(u, dtype=np.float32, order="C")
        moving = np.ascontiguousarray(moving, dtype=np.float32)
        image = level.image
        gy, gx = level.grads
        inv = level.inverse
        pulled = np.empty((h, w), np.float32)
        inside = np.empty((h, w), np.bool_)
        prod = np.empty((h, w, 2), np.float32)
        meanstd = p.intensity == "meanstd"
        max_step = -1.0 if p.max_step is None else float(p.max_step)
        for _ in range(p.iterations):
            n_in, sj, sjj, si, sii = _pull_inside(moving, u, image, pulled, inside)
            gain, offset = 1.0, 0.0
            if meanstd and n_in >= 2:
                mj, mi = sj / n_in, si / n_in
                vj = max(sjj / n_in - mj * mj, 0.0)
                vi = max(sii / n_in - mi * mi, 0.0)
                if vj > 1e-12 * max(1.0, mj * mj) and vi > 0:
                    gain = math.sqrt(vi / vj)
                    offset = mi - mj * gain
                else:
                    offset = mi - mj
            _products(pulled, inside, image, gy, gx, np.float32(gain), np.float32(offset), prod)
            rhs = self.gaussian_channels(prod, p.sigma_lk, p.truncate)
            _step(inv[(0, 0)], inv[(0, 1)], inv[(1, 1)], rhs, u, max_step)
        if level.confidence_smooth is not None:
            c = level.confidence
            _weighted(c, u, prod)
            filled = self.gaussian_channels(prod, p.fill_sigma, p.truncate)
            _fill(c, level.confidence_smooth, filled, u)
        return u


@numba.njit(cache=True, nogil=True)
def _bilinear(image: np.ndarray, r: np.float32, c: np.float32) -> np.float32:  # pragma: no cover
    h, w = image.shape
    r = min(max(r, np.float32(0.0)), np.float32(h - 1))
    c = min(max(c, np.float32(0.0)), np.float32(w - 1))
    i = min(int(r), h - 2)  # r >= 0: truncation is the floor
    j = min(int(c), w - 2)
    fr = r - np.float32(i)
    fc = c - np.float32(j)
    lo = image[i, j + 1] * fc + image[i, j] * (np.float32(1.0) - fc)
    hi = image[i + 1, j + 1] * fc + image[i + 1, j] * (np.float32(1.0) - fc)
    return hi * fr + lo * (np.float32(1.0) - fr)


@numba.njit(cache=True, nogil=True)
def _pull2d(image: np.ndarray, flow: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    h, w = image.shape
    for i in range(h):
        for j in range(w):
            out[i, j] = _bilinear(image, np.float32(i + flow[0, i, j]),
                                  np.float32(j + flow[1, i, j]))


@numba.njit(cache=True, nogil=True)
def _pull_inside(moving: np.ndarray, u: np.ndarray, image: np.ndarray, pulled: np.ndarray,
                 inside: np.ndarray) -> tuple[int, float, float, float, float]:  # pragma: no cover
    """Warp ``moving`` by ``u`` into ``pulled``, mark the voxels whose match lies inside the
    image, and return their count and the float64 sums of ``pulled``, ``pulled^2``, ``image``,
    ``image^2`` over them."""
    h, w = moving.shape
    hi_r = np.float32(h - 1)
    hi_c = np.float32(w - 1)
    one = np.float32(1.0)
    zero = np.float32(0.0)
    n_in = 0
    sj = 0.0
    sjj = 0.0
    si = 0.0
    sii = 0.0
    for i in range(h):
        fi = np.float32(i)
        for j in range(w):
            r = fi + u[0, i, j]
            c = np.float32(j) + u[1, i, j]
            ok = (r >= -0.5) and (r <= hi_r + 0.5) and (c >= -0.5) and (c <= hi_c + 0.5)
            r = min(max(r, zero), hi_r)
            c = min(max(c, zero), hi_c)
            i0 = min(int(r), h - 2)  # r >= 0: truncation is the floor
            j0 = min(int(c), w - 2)
            fr = r - np.float32(i0)
            fc = c - np.float32(j0)
            lo = moving[i0, j0 + 1] * fc + moving[i0, j0] * (one - fc)
            hi = moving[i0 + 1, j0 + 1] * fc + moving[i0 + 1, j0] * (one - fc)
            v = hi * fr + lo * (one - fr)
            pulled[i, j] = v
            inside[i, j] = ok
            if ok:
                n_in += 1
                vd = float(v)
                sj += vd
                sjj += vd * vd
                x = float(image[i, j])
                si += x
                sii += x * x
    return n_in, sj, sjj, si, sii


@numba.njit(cache=True, nogil=True)
def _products(pulled: np.ndarray, inside: np.ndarray, image: np.ndarray, gy: np.ndarray,
              gx: np.ndarray, gain: np.float32, offset: np.float32,
              out: np.ndarray) -> None:  # pragma: no cover - numba
    h, w = image.shape
    for i in range(h):
        for j in range(w):
            if inside[i, j]:
                dt = pulled[i, j] * gain + offset - image[i, j]
            else:
                dt = np.float32(0.0)
            out[i, j, 0] = gy[i, j] * dt
            out[i, j, 1] = gx[i, j] * dt


@numba.njit(cache=True, nogil=True)
def _step(i00: np.ndarray, i01: np.ndarray, i11: np.ndarray, rhs: np.ndarray, u: np.ndarray,
          max_step: float) -> None:  # pragma: no cover - numba
    h, w = i00.shape
    for i in range(h):
        for j in range(w):
            b0 = -rhs[i, j, 0]
            b1 = -rhs[i, j, 1]
            s0 = i00[i, j] * b0 + i01[i, j] * b1
            s1 = i01[i, j] * b0 + i11[i, j] * b1
            if max_step > 0:
                norm = math.sqrt(s0 * s0 + s1 * s1)
                if norm > max_step:
                    s0 *= max_step / norm
                    s1 *= max_step / norm
            u[0, i, j] += s0
            u[1, i, j] += s1


@numba.njit(cache=True, nogil=True)
def _weighted(c: np.ndarray, u: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    h, w = c.shape
    for i in range(h):
        for j in range(w):
            out[i, j, 0] = c[i, j] * u[0, i, j]
            out[i, j, 1] = c[i, j] * u[1, i, j]


@numba.njit(cache=True, nogil=True)
def _fill(c: np.ndarray, den: np.ndarray, filled: np.ndarray,
          u: np.ndarray) -> None:  # pragma: no cover - numba
    h, w = c.shape
    for i in range(h):
        for j in range(w):
            ci = c[i, j]
            d = den[i, j]
            for k in range(2):
                f = filled[i, j, k] / d if d > 1e-6 else u[k, i, j]
                u[k, i, j] = u[k, i, j] * ci + f * (np.float32(1.0) - ci)


@numba.njit(cache=True, nogil=True)
def _upsample2d(u: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - numba
    """:func:`~.pyramid.upsample_flow` in 2D: coarse sample ``k`` at fine position ``2 k``,
    linear in between (rows, then columns; the last sample held), displacements doubled."""
    m, n = u.shape[1], u.shape[2]
    h, w = out.shape[1], out.shape[2]
    half = np.float32(0.5)
    two = np.float32(2.0)
    for comp in range(u.shape[0]):
        for i in range(h):
            k = i // 2
            k1 = min(k + 1, m - 1)
            for j in range(w):
                col = j // 2
                col1 = min(col + 1, n - 1)
                if i % 2 == 0:
                    a = u[comp, k, col]
                    b = u[comp, k, col1]
                else:
                    a = (u[comp, k, col] + u[comp, k1, col]) * half
                    b = (u[comp, k, col1] + u[comp, k1, col1]) * half
                v = a if j % 2 == 0 else (a + b) * half
                out[comp, i, j] = v * two
