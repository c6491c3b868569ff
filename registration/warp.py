"""Warping images by displacement fields: backward (pull) and forward (Gaussian splatting).

Convention (see :mod:`motionpredict.sequences`): a field ``u`` of frame ``t`` relative to the
reference satisfies ``I_ref(x) ~ I_t(x + u(x))``. Hence

* :func:`warp_backward` pulls frame ``t`` back onto the reference grid:
  ``out(x) = I_t(x + u(x))`` (linear interpolation), which should resemble ``I_ref``;
* :func:`warp_forward` pushes the reference along the arrows ``x -> x + u(x)`` and rebuilds frame
  ``t`` by Nadaraya-Watson kernel regression (Gaussian splatting):

  .. math::

      \\hat I_t(y) = \\frac{\\sum_x K(y - x - u(x)) I_{ref}(x)}{\\sum_x K(y - x - u(x))},
      \\qquad K(d) = \\exp(-|d|^2 / (2 \\sigma^2)),

  with the kernel truncated at ``truncate * sigma`` per axis (3 sigma = 1.5 px by default: 3
  voxels per axis around the nearest voxel of each arrow tip); where the denominator is near
  zero (a hole that no arrow reaches), the value falls back smoothly to the backward warp of the
  reference by the inverted field.

Displacements are in px (voxels), array-axis order, either channel-first ``(ndim, *shape)`` or
channel-last ``(*shape, ndim)``. NumPy inputs give NumPy outputs; torch tensors give tensors.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import cv2
import numpy as np

from motionpredict.errors import ValidationError
from motionpredict.registration.backends import Backend, get_backend


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _setup(image: Any, displacement: Any, backend: str | None) -> tuple[Backend, Any, Any, bool]:
    """Pick the back-end, convert inputs and bring the field to channel-first layout."""
    as_torch = _is_torch(image) or _is_torch(displacement)
    if backend is None:
        backend = "torch" if as_torch else "numpy"
    device = None
    for x in (image, displacement):
        if _is_torch(x):
            device = str(x.device)
    b = get_backend(backend, device)
    img = b.asarray(image)
    u = b.asarray(displacement)
    shape = tuple(img.shape)
    nd = len(shape)
    if nd not in (2, 3):
        raise ValidationError(f"image must be 2D or 3D, got shape {shape}")
    if tuple(u.shape) == (nd, *shape):
        pass
    elif tuple(u.shape) == (*shape, nd):
        u = u.permute(nd, *range(nd)) if hasattr(u, "permute") else np.moveaxis(u, -1, 0)
    else:
        raise ValidationError(
            f"displacement of shape {tuple(u.shape)} does not fit an image of shape {shape}: "
            f"expected {(nd, *shape)} or {(*shape, nd)} (px)"
        )
    return b, img, u, as_torch


def _finish(b: Backend, x: Any, as_torch: bool) -> Any:
    return x if as_torch else b.to_numpy(x)


def warp_backward(image: Any, displacement_px: Any, *, backend: str | None = None) -> Any:
    """Pull ``image`` through a field: ``out(x) = image(x + u(x))``, linear interpolation.

    Positions outside the grid are clamped to the nearest edge voxel (no zero fill).

    Parameters
    ----------
    image
        ``(H, W)`` or ``(D, H, W)`` image (typically frame ``t``).
    displacement_px
        ``(ndim, *shape)`` or ``(*shape, ndim)`` field in px (typically ``u_t``).
    backend
        ``"numpy"`` or ``"torch"``; chosen from the input types by default.

    Returns
    -------
    Image of ``image``'s shape (float32) on the reference grid.
    """
    b, img, u, as_torch = _setup(image, displacement_px, backend)
    return _finish(b, b.pull(img, u), as_torch)


def _invert(b: Backend, u: Any, iterations: int, *, fast: bool = False) -> Any:
    pull = getattr(b, "pull_fast", b.pull) if fast else b.pull
    v = u * -1.0
    for _ in range(iterations):
        v = b.stack([pull(comp, v) * -1.0 for comp in u])
    return v


def invert_field(displacement_px: Any, *, iterations: int = 10, backend: str | None = None) -> Any:
    """Approximate inverse ``v`` of a field ``u``: ``y + v(y) = x`` where ``y = x + u(x)``.

    Solved by the fixed-point iteration ``v(y) = -u(y + v(y))`` started from ``v = -u``; exact
    for translations, converges for smooth fields whose Jacobian stays away from folding.

    Parameters
    ----------
    displacement_px
        ``(ndim, *shape)`` field in px (channel-first).
    iterations
        Fixed-point iterations.
    backend
        ``"numpy"`` or ``"torch"``; chosen from the input type by default.

    Returns
    -------
    ``(ndim, *shape)`` inverse field in px.
    """
    shape = tuple(displacement_px.shape[1:])
    dummy = np.zeros(shape, np.float32)
    b, _, u, as_torch = _setup(dummy, displacement_px, backend)
    return _finish(b, _invert(b, u, iterations), as_torch)


def _tap_radius(sigma: float, truncate: float) -> int:
    """Taps per axis on each side of the tip's nearest voxel: all voxels within
    ``truncate * sigma`` px of the tip (along each axis) are reached."""
    return max(1, math.ceil(truncate * sigma - 0.5))


#: Kernel-tap entries (source voxels x taps) per chunk of the NumPy splat: the per-tap arrays of
#: one chunk (1.2 MB of indices, as many of weights: 16384 pixels x 9 taps in 2D) stay in the CPU
#: caches; one pass over a 270 x 270 frame (2.4 MB per array) was up to 1.8x slower on the shared
#: development machine. Same result either way.
SPLAT_CHUNK_TAPS = 9 * 16384


def _splat_numpy(img: np.ndarray, u: np.ndarray, grid: list[np.ndarray], sigma: float,
                 radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator of the splat, vectorised over all taps at once (NumPy).

    Sums are accumulated on a grid padded by ``pad = 2 r + 1`` voxels per side, then cropped:
    taps outside the image fall in the padding and are dropped. Per axis the nearest voxel of
    each tip is clamped to ``-r - 1 .. n + r`` (a tip further out reaches no image voxel), the
    ``2 r + 1`` 1D Gaussian weights form a ``(2 r + 1, N)`` array, the separable kernel is their
    outer product over the axes, and one ``np.bincount`` per sum and chunk of source voxels
    (slabs along the first axis, :data:`SPLAT_CHUNK_TAPS` tap entries) accumulates all taps in
    float64 into the range of flat indices the chunk reaches.

    Returns
    -------
    (num, den)
        ``sum K I`` and ``sum K`` on the image grid, float32.
    """
    shape = img.shape
    nd = len(shape)
    k = 2 * radius + 1
    pad = 2 * radius + 1
    padded = tuple(s + 2 * pad for s in shape)
    strides = [int(np.prod(padded[a + 1:])) for a in range(nd)]
    taps: Any = 0
    for a in range(nd):
        taps = taps + np.arange(-radius, radius + 1).reshape(
            (1,) * a + (k,) + (1,) * (nd - 1 - a)) * strides[a]
    taps = np.asarray(taps, dtype=np.intp).reshape(-1, 1)  # (k^nd, 1) flat tap offsets
    reach = int(taps.max())
    offsets = np.arange(-radius, radius + 1, dtype=np.float32)[:, None]
    scale = np.float32(-0.5 / sigma**2)
    num = np.zeros(int(np.prod(padded)))
    den = np.zeros_like(num)
    tips = [grid[a] + u[a] for a in range(nd)]
    step = max(1, SPLAT_CHUNK_TAPS // (k**nd * max(1, int(np.prod(shape[1:])))))
    for start in range(0, shape[0], step):
        chunk = slice(start, start + step)
        base: Any = 0
        weight: Any = None
        for a in range(nd):
            tip = tips[a][chunk].reshape(1, -1)  # (1, n) px
            nearest = np.floor(tip + np.float32(0.5))
            np.clip(nearest, -radius - 1, shape[a] + radius, out=nearest)
            d = (nearest + offsets) - tip  # (k, n) tap-to-tip distances, px
            w = np.exp(d * d * scale)
            base = base + (nearest[0].astype(np.intp) + pad) * strides[a]
            view = (None,) * a + (slice(None),) + (None,) * (nd - 1 - a) + (slice(None),)
            weight = w[view] if weight is None else weight * w[view]
        lo = int(base.min()) - reach
        hi = int(base.max()) + reach + 1
        flat = (base - lo)[None] + taps  # (k^nd, n) flat indices from lo
        wflat = weight.reshape(-1).astype(np.float64)
        flat = flat.reshape(-1)
        den[lo:hi] += np.bincount(flat, weights=wflat, minlength=hi - lo)
        wflat.reshape(-1, weight.shape[-1])[...] *= img[chunk].reshape(1, -1)
        num[lo:hi] += np.bincount(flat, weights=wflat, minlength=hi - lo)
    crop = tuple(slice(pad, pad + s) for s in shape)
    return (num.reshape(padded)[crop].astype(np.float32),
            den.reshape(padded)[crop].astype(np.float32))


def _fallback_2d_numpy(img: np.ndarray, u: np.ndarray, grid: list[np.ndarray],
                       iterations: int) -> np.ndarray:
    """The reference pulled by the inverted field, 2D NumPy: the fixed-point iteration
    ``v(y) = -u(y + v(y))`` with OpenCV ``remap`` (same values as :func:`invert_field` with
    ``pull_fast``; the sampling positions are computed once per iteration for both
    components, in place)."""
    rows, cols = grid
    # v = -u(y + v) is sampled from -u directly (interpolation commutes exactly with negation)
    neg_row = np.negative(u[0])
    neg_col = np.negative(u[1])
    v_row, v_col = neg_row.copy(), neg_col.copy()
    map_row = np.empty_like(v_row)
    map_col = np.empty_like(v_col)
    for _ in range(iterations):
        np.add(rows, v_row, out=map_row)
        np.add(cols, v_col, out=map_col)
        cv2.remap(neg_row, map_col, map_row, dst=v_row, interpolation=cv2.INTER_LINEAR,
                  borderMode=cv2.BORDER_REPLICATE)
        cv2.remap(neg_col, map_col, map_row, dst=v_col, interpolation=cv2.INTER_LINEAR,
                  borderMode=cv2.BORDER_REPLICATE)
    np.add(rows, v_row, out=map_row)
    np.add(cols, v_col, out=map_col)
    return cv2.remap(img, map_col, map_row, interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def warp_forward(image: Any, displacement_px: Any, *, sigma: float = 0.5, truncate: float = 3.0,
                 hole_weight: float = 1e-3, inverse_iterations: int = 10,
                 backend: str | None = None) -> Any:
    """Push ``image`` along ``x -> x + u(x)`` by Gaussian Nadaraya-Watson splatting.

    The kernel is separable and truncated per axis: an arrow tip ``p = x + u(x)`` contributes
    to the ``2 r + 1`` voxels ``round(p) - r .. round(p) + r`` along each axis,
    ``r = max(1, ceil(truncate * sigma - 0.5))``, i.e. to every voxel within
    ``truncate * sigma`` px of the tip along each axis (voxels outside the image are dropped).
    With the defaults (``sigma = 0.5`` px, ``truncate = 3``: radius 1.5 px) that is exactly the
    3 nearest voxels per axis (9 taps in 2D, 27 in 3D), the kernel being cut at 3 sigma.

    Parameters
    ----------
    image
        ``(H, W)`` or ``(D, H, W)`` image (typically the reference frame).
    displacement_px
        ``(ndim, *shape)`` or ``(*shape, ndim)`` field in px on the grid of ``image``.
    sigma
        Standard deviation of the Gaussian kernel in px (0.5 in the reference implementation).
    truncate
        Kernel truncation radius in units of ``sigma`` (see above).
    hole_weight
        Weight of the fall-back value: ``out = (sum K I + w_h B) / (sum K + w_h)`` where ``B`` is
        the reference pulled by the inverted field; far from holes ``sum K`` is about
        ``2 pi sigma^2`` so the fall-back has no visible effect there.
    inverse_iterations
        Fixed-point iterations of :func:`invert_field` for the fall-back.
    backend
        ``"numpy"`` or ``"torch"``; chosen from the input types by default.

    Returns
    -------
    Image of ``image``'s shape (float32): the predicted frame ``t``.
    """
    if not (sigma > 0 and math.isfinite(sigma)):
        raise ValidationError(f"splatting sigma must be > 0 px, got {sigma}")
    if not (truncate > 0 and math.isfinite(truncate)):
        raise ValidationError(f"splatting truncate must be > 0, got {truncate}")
    b, img, u, as_torch = _setup(image, displacement_px, backend)
    shape = tuple(int(s) for s in img.shape)
    radius = _tap_radius(sigma, truncate)
    if b.name == "numpy":
        u = np.ascontiguousarray(u, dtype=np.float32)
        grid = b.grid(shape)
        num, den = _splat_numpy(img, u, grid, sigma, radius)
        if len(shape) == 2:
            fallback = _fallback_2d_numpy(img, u, grid, inverse_iterations)
        else:
            fallback = b.pull(img, _invert(b, u, inverse_iterations, fast=True))
        num += np.float32(hole_weight) * fallback
        den += np.float32(hole_weight)
        return _finish(b, num / den, as_torch)
    size = int(np.prod(shape))
    strides = [int(np.prod(shape[a + 1:])) for a in range(len(shape))]
    tips = [g + comp for g, comp in zip(b.grid(shape), u, strict=True)]
    bases = [b.floor(t + 0.5) for t in tips]  # nearest voxel of each tip
    num = b.zeros((size,))
    den = b.zeros((size,))
    ones = img * 0.0 + 1.0
    offsets = list(range(-radius, radius + 1))
    # The Gaussian kernel is separable: per axis and offset, precompute the target index (already
    # multiplied by the axis stride), the 1D weight (zero outside the image) once.
    axis_idx: list[list[Any]] = []
    axis_w: list[list[Any]] = []
    for a in range(len(shape)):
        idx_a, w_a = [], []
        for off in offsets:
            target = bases[a] + float(off)
            d = target - tips[a]
            inside = (target >= 0) & (target <= shape[a] - 1)
            g = (d * d * (-0.5 / sigma**2)).exp() if hasattr(d, "exp") else np.exp(
                d * d * (-0.5 / sigma**2))
            w_a.append(b.where(inside, g, 0.0))
            idx_a.append(b.to_index(b.where(inside, target, 0.0)) * strides[a])
        axis_idx.append(idx_a)
        axis_w.append(w_a)
    for combo in itertools.product(range(len(offsets)), repeat=len(shape)):  # kernel taps only
        flat = axis_idx[0][combo[0]]
        weight = axis_w[0][combo[0]]
        for a in range(1, len(shape)):
            flat = flat + axis_idx[a][combo[a]]
            weight = weight * axis_w[a][combo[a]]
        num = num + b.splat(img, flat, weight, size)
        den = den + b.splat(ones, flat, weight, size)
    pull = getattr(b, "pull_fast", b.pull)
    fallback = pull(img, _invert(b, u, inverse_iterations, fast=True))
    out = (num.reshape(shape) + hole_weight * fallback) / (den.reshape(shape) + hole_weight)
    return _finish(b, out, as_torch)
