"""Spatial derivative operators (central differences, Scharr) for 2D and 3D images."""

from __future__ import annotations

from typing import Any

import numpy as np

from motionpredict.registration.backends import Backend

#: Cross-axis smoothing of the Scharr operator (normalised so the derivative keeps unit gain).
SCHARR_SMOOTHING = np.array([1.0, 3.0, 1.0]) / 5.0


def _take(x: Any, axis: int, sl: slice) -> Any:
    index = [slice(None)] * x.ndim
    index[axis] = sl
    return x[tuple(index)]


def derivative(backend: Backend, x: Any, axis: int) -> Any:
    """Central difference ``(x[i+1] - x[i-1]) / 2`` along ``axis``; one-sided on the edges.

    The edge voxels get ``x[1] - x[0]`` and ``x[n-1] - x[n-2]`` (no zeroing, no padding bias);
    an axis of length 1 has zero derivative. Units: intensity per px.
    """
    n = x.shape[axis]
    if n < 2:
        return x * 0.0
    first = _take(x, axis, slice(1, 2)) - _take(x, axis, slice(0, 1))
    last = _take(x, axis, slice(n - 1, n)) - _take(x, axis, slice(n - 2, n - 1))
    if n == 2:
        return backend.concat([first, last], axis)
    mid = (_take(x, axis, slice(2, None)) - _take(x, axis, slice(0, n - 2))) * 0.5
    return backend.concat([first, mid, last], axis)


def gradient(backend: Backend, x: Any, operator: str = "central") -> list[Any]:
    """Spatial gradient of a 2D/3D image, one array per axis (array-axis order), intensity/px.

    Parameters
    ----------
    backend
        Array back-end.
    x
        ``(H, W)`` or ``(D, H, W)`` float32 image.
    operator
        ``"central"``: central differences; ``"scharr"``: central differences smoothed with
        ``[1, 3, 1] / 5`` along every other axis (mirror borders).
    """
    grads = []
    for axis in range(x.ndim):
        g = derivative(backend, x, axis)
        if operator == "scharr":
            for other in range(x.ndim):
                if other != axis and x.shape[other] > 1:
                    g = backend.smooth_axis(g, SCHARR_SMOOTHING, other)
        elif operator != "central":
            raise ValueError(f"unknown gradient operator {operator!r}")
        grads.append(g)
    return grads
