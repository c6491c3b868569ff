"""Smooth analytic shapes used to paint the phantoms' anatomy.

Every organ is described by an (approximate) signed distance in mm, negative inside, and painted
with a soft edge ``expit(-d / width)``. The anatomy is therefore a smooth, well-sampled function of
position: the phantoms evaluate it on a fine grid once and interpolate it wherever the known
displacement field sends a pixel. Points are ``(N, ndim)`` arrays in mm, array-axis order.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit


def soft_inside(distance_mm: np.ndarray, width_mm: float) -> np.ndarray:
    """Soft indicator ``expit(-d / width)``: 1 deep inside (d < 0), 0 outside, 0.5 on the edge."""
    return np.asarray(expit(-np.asarray(distance_mm) / width_mm))


def ellipsoid_distance(
    points: np.ndarray,
    centre: np.ndarray | tuple[float, ...],
    radii: np.ndarray | tuple[float, ...],
) -> np.ndarray:
    """First-order signed distance (mm) to an axis-aligned ellipse / ellipsoid.

    Parameters
    ----------
    points
        ``(N, ndim)`` positions, mm.
    centre, radii
        ``(ndim,)`` centre and semi-axes, mm.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` approximate signed distance in mm (exact on the surface and for a sphere).
    """
    q = (points - np.asarray(centre)) / np.asarray(radii)
    norm_q = np.sqrt(np.sum(q * q, axis=1))
    grad = np.sqrt(np.sum((q / np.asarray(radii)) ** 2, axis=1))
    return (norm_q - 1.0) * norm_q / np.maximum(grad, 1e-12)


def segment_distance(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Euclidean distance (mm) from ``(N, ndim)`` points to the segment ``start``-``end``."""
    start = np.asarray(start, dtype=np.float64)
    ab = np.asarray(end, dtype=np.float64) - start
    ap = points - start
    dot = np.zeros(points.shape[0])
    for j in range(points.shape[1]):  # explicit loop: tiny BLAS calls are slow under threading
        dot += ap[:, j] * ab[j]
    t = np.clip(dot / max(float(np.sum(ab * ab)), 1e-12), 0.0, 1.0)
    return np.sqrt(np.sum((ap - t[:, None] * ab) ** 2, axis=1))


def tube_mask(
    points: np.ndarray,
    segments: np.ndarray,
    edge_mm: float,
) -> np.ndarray:
    """Union of soft tubes around segments (vessels, ribs).

    Parameters
    ----------
    points
        ``(N, ndim)`` positions, mm.
    segments
        ``(S, 2 ndim + 1)`` rows ``[start (ndim), end (ndim), radius_mm]``.
    edge_mm
        Edge width of the soft indicator, mm.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` soft indicator in 0..1 (maximum over the tubes).
    """
    nd = points.shape[1]
    out = np.zeros(points.shape[0])
    for seg in np.asarray(segments, dtype=np.float64).reshape(-1, 2 * nd + 1):
        a, b, radius = seg[:nd], seg[nd : 2 * nd], seg[2 * nd]
        reach = radius + 6.0 * edge_mm
        lo = np.minimum(a, b) - reach
        hi = np.maximum(a, b) + reach
        near = np.all((points >= lo) & (points <= hi), axis=1)
        if not np.any(near):
            continue
        d = segment_distance(points[near], a, b) - radius
        out[near] = np.maximum(out[near], soft_inside(d, edge_mm))
    return out


def fourier_texture(points: np.ndarray, modes: np.ndarray) -> np.ndarray:
    """Smooth random texture ``sum_j c_j cos(k_j . x + phi_j)``.

    Parameters
    ----------
    points
        ``(N, ndim)`` positions, mm.
    modes
        ``(M, ndim + 2)`` rows ``[k (rad/mm, ndim values), phi (rad), c]``.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` texture values (same units as ``c``).
    """
    modes = np.asarray(modes, dtype=np.float64)
    nd = points.shape[1]
    if modes.size == 0:
        return np.zeros(points.shape[0])
    out = np.zeros(points.shape[0])
    for mode in modes:
        phase = mode[nd] + points[:, 0] * mode[0]
        for j in range(1, nd):
            phase += points[:, j] * mode[j]
        out += mode[nd + 1] * np.cos(phase)
    return out


def draw_texture_modes(
    rng: np.random.Generator,
    *,
    ndim: int,
    n_modes: int,
    wavelength_mm: tuple[float, float],
    rms: float,
) -> np.ndarray:
    """Draw ``(n_modes, ndim + 2)`` texture modes with isotropic random directions.

    Wavelengths are log-uniform in ``wavelength_mm``; amplitudes are scaled so that the texture's
    root-mean-square value is ``rms``.
    """
    direction = rng.standard_normal((n_modes, ndim))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    lo, hi = np.log(wavelength_mm[0]), np.log(wavelength_mm[1])
    wavelength = np.exp(rng.uniform(lo, hi, size=n_modes))
    k = direction * (2.0 * np.pi / wavelength)[:, None]
    phi = rng.uniform(0.0, 2.0 * np.pi, size=n_modes)
    c = rng.uniform(0.5, 1.0, size=n_modes)
    c *= rms / np.sqrt(0.5 * np.sum(c * c))
    return np.column_stack([k, phi, c])


def paint(image: np.ndarray, value: float | np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Blend ``value`` into ``image`` with soft ``mask`` weights (0..1): ``(1 - m) I + m v``."""
    return image + mask * (value - image)
