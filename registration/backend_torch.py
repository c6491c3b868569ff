"""PyTorch implementation of the registration :class:`~.backends.Backend` (CPU or CUDA)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from motionpredict.registration.backends import gaussian_kernel, mirror_index


class TorchBackend:
    """Torch back-end with the same numerics as :class:`~.backend_numpy.NumpyBackend`.

    Parameters
    ----------
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; CUDA when available by default.
    """

    name = "torch"

    def __init__(self, device: str | torch.device | None = None) -> None:
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self._grids: dict[tuple[int, ...], list[torch.Tensor]] = {}
        self._pads: dict[tuple[int, int], torch.Tensor] = {}

    # ----------------------------------------------------------------- conversions
    def asarray(self, x: Any) -> torch.Tensor:
        """Return ``x`` as a float32 tensor on the back-end's device."""
        if isinstance(x, torch.Tensor):
            return x.to(device=self.device, dtype=torch.float32)
        return torch.as_tensor(np.asarray(x, dtype=np.float32), device=self.device)

    def to_numpy(self, x: torch.Tensor) -> np.ndarray:
        """Return ``x`` as a float32 NumPy array."""
        return x.detach().to("cpu", torch.float32).numpy()

    def zeros(self, shape: tuple[int, ...]) -> torch.Tensor:
        """Float32 zeros of ``shape``."""
        return torch.zeros(shape, dtype=torch.float32, device=self.device)

    def stack(self, arrays: list[torch.Tensor]) -> torch.Tensor:
        """Stack along a new first axis."""
        return torch.stack(arrays)

    def concat(self, arrays: list[torch.Tensor], axis: int) -> torch.Tensor:
        """Concatenate along ``axis``."""
        return torch.cat(arrays, dim=axis)

    def where(self, cond: torch.Tensor, a: Any, b: Any) -> torch.Tensor:
        """Element-wise ``a if cond else b``."""
        a = a if isinstance(a, torch.Tensor) else torch.tensor(a, dtype=torch.float32,
                                                                device=self.device)
        b = b if isinstance(b, torch.Tensor) else torch.tensor(b, dtype=torch.float32,
                                                                device=self.device)
        return torch.where(cond, a, b).to(torch.float32)

    def floor(self, x: torch.Tensor) -> torch.Tensor:
        """Element-wise floor."""
        return torch.floor(x)

    def to_index(self, x: torch.Tensor) -> torch.Tensor:
        """Whole-number floats to int64 indices."""
        return x.to(torch.int64)

    def grid(self, shape: tuple[int, ...]) -> list[torch.Tensor]:
        """Per-axis voxel coordinates (cached per shape)."""
        shape = tuple(int(s) for s in shape)
        if shape not in self._grids:
            axes = [torch.arange(n, dtype=torch.float32, device=self.device) for n in shape]
            self._grids[shape] = list(torch.meshgrid(*axes, indexing="ij"))
        return self._grids[shape]

    # ----------------------------------------------------------------- filtering
    def _pad_index(self, n: int, pad: int) -> torch.Tensor:
        key = (n, pad)
        if key not in self._pads:
            self._pads[key] = torch.as_tensor(mirror_index(n, pad), device=self.device)
        return self._pads[key]

    def smooth_axis(self, x: torch.Tensor, kernel: np.ndarray, axis: int) -> torch.Tensor:
        """Correlate ``axis`` with a symmetric ``kernel`` (mirror borders)."""
        k = torch.as_tensor(np.asarray(kernel, np.float32), device=self.device)
        pad = k.numel() // 2
        moved = x.movedim(axis, -1)
        n = moved.shape[-1]
        padded = moved.index_select(-1, self._pad_index(n, pad))
        out = F.conv1d(padded.reshape(-1, 1, n + 2 * pad), k.view(1, 1, -1))
        return out.reshape(moved.shape).movedim(-1, axis)

    def gaussian(self, x: torch.Tensor, sigma: float, truncate: float) -> torch.Tensor:
        """Separable Gaussian filter over every axis (mirror borders); identity for sigma <= 0."""
        if sigma <= 0:
            return x
        k = gaussian_kernel(sigma, truncate)
        for axis in range(x.ndim):
            x = self.smooth_axis(x, k, axis)
        return x

    # ----------------------------------------------------------------- sampling
    def pull(self, image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """Linear interpolation of ``image`` at ``x + flow(x)``, positions clamped to the grid."""
        shape = image.shape
        lo: list[torch.Tensor] = []
        hi: list[torch.Tensor] = []
        frac: list[torch.Tensor] = []
        for g, f, n in zip(self.grid(tuple(shape)), flow, shape, strict=True):
            c = torch.clamp(g + f, 0.0, float(n - 1))
            i0 = torch.clamp(torch.floor(c), max=float(max(n - 2, 0)))
            frac.append(c - i0)
            i0 = i0.to(torch.int64)
            lo.append(i0)
            hi.append(torch.clamp(i0 + 1, max=n - 1))
        strides = [int(np.prod(shape[a + 1:])) for a in range(len(shape))]
        flat = image.reshape(-1)
        out = torch.zeros_like(image)
        for corner in itertools.product((0, 1), repeat=len(shape)):
            idx = torch.zeros_like(lo[0])
            weight = torch.ones_like(image)
            for a, bit in enumerate(corner):
                idx = idx + (hi[a] if bit else lo[a]) * strides[a]
                weight = weight * (frac[a] if bit else 1.0 - frac[a])
            out = out + weight * flat[idx]
        return out

    def splat(self, values: torch.Tensor, flat_index: torch.Tensor, weights: torch.Tensor,
              size: int) -> torch.Tensor:
        """Sum ``values * weights`` into ``size`` bins given by ``flat_index``."""
        acc = torch.zeros(size, dtype=torch.float64, device=self.device)
        acc.index_add_(0, flat_index.reshape(-1), (values * weights).reshape(-1).to(torch.float64))
        return acc.to(torch.float32)

    # ----------------------------------------------------------------- algebra
    def pinv_sym(self, matrices: torch.Tensor, rcond: float, floor: float) -> torch.Tensor:
        """Pseudo-inverse of ``(K, n, n)`` symmetric matrices (truncated eigen-decomposition)."""
        w, v = torch.linalg.eigh(matrices.to(torch.float64))
        cut = torch.clamp(rcond * w[:, -1:], min=floor)
        keep = w > cut
        inv_w = torch.where(keep, 1.0 / torch.where(keep, w, torch.ones_like(w)),
                            torch.zeros_like(w))
        return torch.einsum("kij,kj,klj->kil", v, inv_w, v).to(torch.float32)
