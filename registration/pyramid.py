"""Gaussian image pyramids and the transfer of flow fields between pyramid levels.

Level ``l + 1`` keeps the voxels ``2 j`` of level ``l`` after Gaussian anti-alias filtering, so a
level-``l+1`` voxel ``j`` sits at position ``2 j`` of level ``l`` (shape ``ceil(n / 2)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from motionpredict.registration.backends import Backend


def subsample(x: Any) -> Any:
    """Keep every second voxel along every spatial axis of ``x`` (``(*shape)``)."""
    return x[(slice(None, None, 2),) * x.ndim]


def build_pyramid(backend: Backend, image: Any, levels: int, sigma: float,
                  truncate: float) -> list[Any]:
    """Return ``[level 0 (full resolution), level 1, ...]`` of a Gaussian pyramid.

    Parameters
    ----------
    backend
        Array back-end.
    image
        ``(*shape)`` float32 image (already pre-filtered).
    levels
        Number of levels (>= 1).
    sigma
        Anti-alias Gaussian standard deviation in px of the finer level; 0 subsamples directly.
    truncate
        Gaussian radius in standard deviations.
    """
    pyramid = [image]
    for _ in range(levels - 1):
        pyramid.append(subsample(backend.gaussian(pyramid[-1], sigma, truncate)))
    return pyramid


def _upsample_axis(backend: Backend, u: Any, axis: int, n: int) -> Any:
    """Linear interpolation of ``u`` (first axis = components) from ``ceil(n/2)`` to ``n`` samples
    along spatial ``axis`` (samples ``j`` at positions ``2 j``; the last one is held)."""
    a = axis + 1
    m = u.shape[a]
    if isinstance(u, np.ndarray):  # NumPy: write even/odd samples in place (no interleave copy)
        shape = list(u.shape)
        shape[a] = n
        out = np.empty(shape, dtype=u.dtype)
        even = [slice(None)] * u.ndim
        even[a] = slice(0, n, 2)
        src = [slice(None)] * u.ndim
        src[a] = slice(0, (n + 1) // 2)
        out[tuple(even)] = u[tuple(src)]
        n_odd = n // 2
        if n_odd:
            odd = [slice(None)] * u.ndim
            odd[a] = slice(1, n, 2)
            lo = [slice(None)] * u.ndim
            lo[a] = slice(0, n_odd)
            hi = [slice(None)] * u.ndim
            hi[a] = slice(1, n_odd + 1) if n_odd + 1 <= m else slice(1, m)
            nxt = u[tuple(hi)]
            if nxt.shape[a] < n_odd:  # the last sample is held
                last = [slice(None)] * u.ndim
                last[a] = slice(m - 1, m)
                nxt = np.concatenate([nxt, u[tuple(last)]], axis=a)
            target = out[tuple(odd)]
            np.add(u[tuple(lo)], nxt, out=target)
            target *= 0.5
        return out
    index = [slice(None)] * u.ndim
    index[a] = slice(1, None)
    nxt_head = u[tuple(index)]
    index[a] = slice(m - 1, m)
    nxt = backend.concat([nxt_head, u[tuple(index)]], a)
    odd = (u + nxt) * 0.5
    index[a] = slice(0, n // 2)
    odd = odd[tuple(index)]
    index[a] = slice(0, (n + 1) // 2)
    even = u[tuple(index)]
    # interleave even and odd samples: stack on a new axis after `a`, then merge
    if n // 2 < (n + 1) // 2:  # n odd: pad odd with a dummy sample, dropped after interleaving
        index[a] = slice(0, 1)
        odd = backend.concat([odd, even[tuple(index)]], a)
    both = backend.stack([even, odd])  # (2, C, ..., m', ...)
    perm = [*range(1, a + 2), 0, *range(a + 2, both.ndim)]
    if hasattr(both, "permute"):
        inter = both.permute(*perm)
    else:
        inter = both.transpose(perm)
    shape = list(u.shape)
    shape[a] = 2 * even.shape[a]
    inter = inter.reshape(shape)
    index[a] = slice(0, n)
    return inter[tuple(index)]


def upsample_flow(backend: Backend, u: Any, shape: tuple[int, ...]) -> Any:
    """Bring a flow ``(ndim, *coarse)`` in coarse px to the finer level ``shape``, in fine px.

    Positions are interpolated linearly and displacements doubled.
    """
    for axis, n in enumerate(shape):
        u = _upsample_axis(backend, u, axis, int(n))
    return u * 2.0


def downsample_flow(u: Any, levels: int) -> Any:
    """Bring a full-resolution flow ``(ndim, *shape)`` in px to pyramid level ``levels - 1``."""
    step = 2 ** (levels - 1)
    return u[(slice(None),) + (slice(None, None, step),) * (u.ndim - 1)] / float(step)
