"""Array back-ends of the registration code: NumPy/SciPy/OpenCV and PyTorch.

The Lucas-Kanade and warping algorithms are written once against the small :class:`Backend`
interface below; :mod:`.backend_numpy` and :mod:`.backend_torch` implement it with identical
numerics (same Gaussian kernels, same mirror borders, same linear interpolation), so both give the
same fields within float32 rounding.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from motionpredict.errors import ConfigurationError

BACKENDS: tuple[str, ...] = ("numpy", "torch", "fast")


def gaussian_kernel(sigma: float, truncate: float) -> np.ndarray:
    """Return the normalised sampled 1D Gaussian ``exp(-x^2 / (2 sigma^2))``.

    Parameters
    ----------
    sigma
        Standard deviation in px (> 0).
    truncate
        The kernel covers ``x = -r..r`` with ``r = ceil(truncate * sigma)`` px.

    Returns
    -------
    numpy.ndarray
        ``(2 r + 1,)`` float64 weights summing to 1.
    """
    radius = max(1, math.ceil(truncate * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def mirror_index(n: int, pad: int) -> np.ndarray:
    """Indices of ``range(-pad, n + pad)`` folded back into ``0..n-1`` by mirror reflection.

    Mirror means whole-sample symmetric (``d c b | a b c d | c b a``), SciPy's ``"mirror"``,
    OpenCV's ``BORDER_REFLECT_101``; it repeats for pads longer than the axis.
    """
    i = np.arange(-pad, n + pad)
    if n == 1:
        return np.zeros_like(i)
    period = 2 * (n - 1)
    i = np.mod(i, period)
    return np.where(i > n - 1, period - i, i)


class Backend(Protocol):
    """Operations the registration algorithms need; arrays are float32 NumPy arrays or tensors."""

    name: str

    def asarray(self, x: Any) -> Any:
        """Convert to a float32 array of this back-end."""

    def to_numpy(self, x: Any) -> np.ndarray:
        """Convert to a float32 NumPy array."""

    def zeros(self, shape: tuple[int, ...]) -> Any:
        """Float32 zeros."""

    def stack(self, arrays: list[Any]) -> Any:
        """Stack along a new first axis."""

    def concat(self, arrays: list[Any], axis: int) -> Any:
        """Concatenate along an existing axis."""

    def gaussian(self, x: Any, sigma: float, truncate: float) -> Any:
        """Separable Gaussian filter over all axes, mirror borders; identity when sigma <= 0."""

    def smooth_axis(self, x: Any, kernel: np.ndarray, axis: int) -> Any:
        """Correlate one axis with a short symmetric kernel, mirror borders."""

    def pull(self, image: Any, flow: Any) -> Any:
        """Linear interpolation ``image(x + flow(x))``; positions are clamped to the grid."""

    def pinv_sym(self, matrices: Any, rcond: float, floor: float) -> Any:
        """Pseudo-inverse of ``(K, n, n)`` symmetric matrices by truncated eigen-decomposition."""

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        """Element-wise selection."""

    def splat(self, values: Any, flat_index: Any, weights: Any, size: int) -> Any:
        """Return ``(size,)`` sums of ``values * weights`` accumulated at ``flat_index``."""

    def floor(self, x: Any) -> Any:
        """Element-wise floor (float)."""

    def to_index(self, x: Any) -> Any:
        """Convert whole-number floats to an integer index array."""

    def grid(self, shape: tuple[int, ...]) -> list[Any]:
        """Per-axis voxel coordinates, each of the given shape (float32)."""


def get_backend(name: str = "numpy", device: str | None = None) -> Backend:
    """Return the back-end called ``name`` (``"numpy"``, ``"torch"`` or ``"fast"``).

    Parameters
    ----------
    name
        ``"numpy"`` (NumPy/SciPy/OpenCV, CPU; the specification), ``"torch"``, or ``"fast"``
        (2D CPU: box-cascade Gaussian windows and fused numba kernels, :mod:`.backend_fast`).
    device
        Torch device (``"cpu"``, ``"cuda"``...); by default CUDA when available, else CPU.
        Ignored by the NumPy back-end.
    """
    if name == "numpy":
        from motionpredict.registration.backend_numpy import NumpyBackend

        return NumpyBackend()
    if name == "fast":
        from motionpredict.registration.backend_fast import FastBackend

        return FastBackend()
    if name == "torch":
        from motionpredict.registration.backend_torch import TorchBackend

        return TorchBackend(device)
    raise ConfigurationError(f"unknown registration backend {name!r}; choose one of {BACKENDS}")
