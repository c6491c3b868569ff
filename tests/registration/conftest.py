"""Synthetic images with analytic deformations for the registration tests.

The texture is a sum of Gaussian blobs evaluated analytically at any position, so a moving image
``I_t(y) = f(y - v(y))`` is exact (no interpolation). Its true field in the convention
``I_ref(x) = I_t(x + u(x))`` solves ``u(x) = v(x + u(x))``, found by fixed-point iteration on the
analytic ``v``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pytest

Field = Callable[[list[np.ndarray]], list[np.ndarray]]


def make_texture(shape: tuple[int, ...], seed: int = 0, n_blobs: int | None = None):
    """Return ``f(coords) -> intensities`` (0..~255), a sum of random Gaussian blobs."""
    rng = np.random.default_rng(seed)
    nd = len(shape)
    n_blobs = n_blobs or (150 if nd == 2 else 200)
    centres = rng.uniform(-5, np.array(shape) + 5, size=(n_blobs, nd))
    widths = rng.uniform(2.5, 6.0, size=n_blobs)
    amps = rng.uniform(-1.0, 1.0, size=n_blobs) * 120

    def f(coords: list[np.ndarray]) -> np.ndarray:
        out = np.full(coords[0].shape, 128.0)
        for c, w, a in zip(centres, widths, amps, strict=True):
            d2 = sum((x - ci) ** 2 for x, ci in zip(coords, c, strict=True))
            out += a * np.exp(-d2 / (2 * w * w))
        return out

    return f


def deform(shape: tuple[int, ...], f, v: Field, fp_iterations: int = 60):
    """Reference, moving image and true field ``u`` (ndim, *shape) px for the push field ``v``."""
    grid = [g.astype(np.float64) for g in np.indices(shape)]
    ref = f(grid)
    moved = f([g - vi for g, vi in zip(grid, v(grid), strict=True)])
    u = [np.zeros(shape) for _ in shape]
    for _ in range(fp_iterations):
        u = v([g + ui for g, ui in zip(grid, u, strict=True)])
    return ref.astype(np.float32), moved.astype(np.float32), np.stack(u).astype(np.float32)


def translation(shift: tuple[float, ...]) -> Field:
    return lambda grid: [np.full(grid[0].shape, s) for s in shift]


def smooth_field(shape: tuple[int, ...], amplitude: float) -> Field:
    """A smooth breathing-like deformation: sinusoids of about one image period."""
    n = np.array(shape, float)

    def v(grid: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for a in range(len(shape)):
            other = grid[(a + 1) % len(shape)]
            out.append(amplitude * np.sin(np.pi * other / n[(a + 1) % len(shape)] + a)
                       * np.cos(np.pi * grid[a] / n[a]))
        return out

    return v


def epe(flow: np.ndarray, truth: np.ndarray, margin: int) -> float:
    """Mean end-point error (px) at least ``margin`` voxels away from the edge."""
    inner = (slice(None),) + (slice(margin, -margin),) * (flow.ndim - 1)
    return float(np.sqrt(((flow[inner] - truth[inner]) ** 2).sum(0)).mean())


@pytest.fixture
def synth() -> SimpleNamespace:
    """Helpers: texture, deform, translation, smooth_field, epe."""
    return SimpleNamespace(texture=make_texture, deform=deform, translation=translation,
                           smooth_field=smooth_field, epe=epe)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Run torch single-threaded in these tests: the small arrays gain nothing from threads and
    busy-waiting OpenMP threads slow down badly on a shared, oversubscribed CPU."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
