"""Known displacement fields of the phantoms and the exact image formation that goes with them.

The phantoms' motion is *separable*: ``u_t(x) = sum_k w_k(t) B_k(x)`` with a few smooth spatial
basis fields ``B_k`` (mm per unit weight) and weights ``w_k(t)`` (e.g. the diaphragm excursion in
mm, a cardiac contraction in mm). The displacement convention of motionpredict is
``I_ref(x) = I_t(x + u_t(x))``. Frame ``t`` is therefore formed by *pulling*:
``I_t(y) = I_ref(x)`` with ``x`` the solution of ``x + u_t(x) = y``, found by fixed-point iteration
``x <- y - u_t(x)`` (a contraction when ``|grad u_t| < 1``). The stored ``u_t`` is the analytic
field on the pixel grid (exact); the solved ``x`` is accurate to 1e-2 mm or better (the field is
interpolated linearly during the iteration from a grid ``fine`` times finer than the pixels: 2 for
cine, 1 for CT), and ``I_ref`` is the analytic anatomy sampled on that grid and interpolated with
cubic B-splines (exact on the pixel grid, so frame 0 is the analytic reference).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from motionpredict.errors import ConfigurationError

#: ``basis(points (N, ndim) mm) -> (K, N, ndim)`` mm per unit weight.
Basis = Callable[[np.ndarray], np.ndarray]


def check_grid(shape: tuple[int, ...], spacing_mm: tuple[float, ...], ndim: int) -> None:
    """Raise :class:`ConfigurationError` unless ``shape`` has ``ndim`` sizes >= 8 and the spacing
    ``ndim`` positive values (mm)."""
    if len(shape) != ndim or any(int(n) != n or n < 8 for n in shape):
        raise ConfigurationError(f"shape must be {ndim} integers >= 8, got {tuple(shape)}")
    if len(spacing_mm) != ndim or not all(np.isfinite(s) and s > 0 for s in spacing_mm):
        raise ConfigurationError(
            f"spacing_mm must be {ndim} positive values in mm, got {tuple(spacing_mm)}"
        )


def grid_points(shape: tuple[int, ...], spacing_mm: tuple[float, ...]) -> np.ndarray:
    """``(prod(shape), ndim)`` positions in mm (``index * spacing``) of all grid points, C order."""
    axes = [np.arange(n, dtype=np.float64) * s for n, s in zip(shape, spacing_mm, strict=True)]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


@dataclass(frozen=True)
class PaddedGrid:
    """A regular grid that extends a field of view by a margin, for spline sampling.

    Attributes
    ----------
    origin_mm
        ``(ndim,)`` position of node 0, mm (negative: the margin).
    spacing_mm
        ``(ndim,)`` node spacing, mm.
    shape
        Number of nodes per axis.
    """

    origin_mm: tuple[float, ...]
    spacing_mm: tuple[float, ...]
    shape: tuple[int, ...]

    @classmethod
    def around(cls, fov_mm: np.ndarray, step_mm: np.ndarray, margin_mm: float) -> PaddedGrid:
        """Grid of step ``step_mm`` covering ``[-margin, fov + margin]`` with node 0 at ``-k step``.

        Node positions are integer multiples of ``step_mm``, so a pixel grid whose spacing is a
        multiple of ``step_mm`` lies on nodes.
        """
        before = np.ceil(margin_mm / step_mm).astype(int)
        n = before + np.ceil((fov_mm + margin_mm) / step_mm).astype(int) + 1
        return cls(
            origin_mm=tuple(float(v) for v in -before * step_mm),
            spacing_mm=tuple(float(v) for v in step_mm),
            shape=tuple(int(v) for v in n),
        )

    def points(self) -> np.ndarray:
        """``(prod(shape), ndim)`` node positions in mm, C order."""
        return grid_points(self.shape, self.spacing_mm) + np.asarray(self.origin_mm)

    def index(self, points: np.ndarray) -> np.ndarray:
        """``(ndim, N)`` fractional node indices of ``(N, ndim)`` positions in mm."""
        return ((points - np.asarray(self.origin_mm)) / np.asarray(self.spacing_mm)).T


def spline_coefficients(values: np.ndarray) -> np.ndarray:
    """Cubic B-spline coefficients of node values (any shape), for :func:`spline_sample`."""
    return ndimage.spline_filter(np.asarray(values, dtype=np.float64), order=3, mode="mirror")


def spline_sample(coefficients: np.ndarray, grid: PaddedGrid, points: np.ndarray) -> np.ndarray:
    """Cubic B-spline interpolation at ``(N, ndim)`` positions (mm) of prefiltered node values."""
    return ndimage.map_coordinates(
        coefficients, grid.index(points), order=3, prefilter=False, mode="mirror"
    )


def invert_on_grid(
    values: np.ndarray,
    grid: PaddedGrid,
    targets: np.ndarray,
    *,
    tol_mm: float = 1e-4,
    max_iter: int = 200,
    init: np.ndarray | None = None,
) -> np.ndarray:
    """Solve ``x + u(x) = y`` with ``u`` interpolated (multilinear) from a padded grid.

    With the phantoms' smooth fields sampled every 1-2 mm the interpolation error, hence the error
    of ``x``, is 3e-3 to 8e-3 mm (checked against the analytic field in the tests).

    Parameters
    ----------
    values
        ``(ndim, *grid.shape)`` node values of the components of ``u`` (mm).
    grid
        The grid the values live on; it must contain every iterate.
    targets
        ``(N, ndim)`` positions ``y``, mm.
    tol_mm, max_iter
        Convergence tolerance (largest change of an iterate, mm) and iteration limit.
    init
        ``(N, ndim)`` starting guess (e.g. the previous frame's solution); ``y - u(y)`` if ``None``.

    Returns
    -------
    numpy.ndarray
        ``(N, ndim)`` positions ``x`` in mm.

    Raises
    ------
    ConfigurationError
        When the iteration does not converge or leaves the grid (field too steep or too large).
    """
    # Iterate in node-index units: no unit conversion inside the loop.
    step = np.asarray(grid.spacing_mm)[:, None]
    origin = np.asarray(grid.origin_mm)[:, None]
    hi = np.asarray(grid.shape, dtype=np.float64)[:, None] - 1.0
    scaled = [v / s for v, s in zip(values, grid.spacing_mm, strict=True)]  # u in node units
    y = (targets.T - origin) / step

    def u_at(idx: np.ndarray) -> np.ndarray:
        return np.stack([ndimage.map_coordinates(v, idx, order=1, mode="nearest") for v in scaled])

    x = y - u_at(y) if init is None else (init.T - origin) / step
    tol = tol_mm / float(np.max(step))
    for _ in range(max_iter):
        if np.any(x < 0.0) or np.any(x > hi):
            break
        new = y - u_at(x)
        change = float(np.max(np.abs(new - x)))
        x = new
        if change <= tol:
            return (x * step + origin).T
    raise ConfigurationError(
        f"the phantom's displacement field could not be inverted to {tol_mm} mm; the motion is "
        "too large for the field of view"
    )


def displacement(basis: Basis, weights: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``(N, ndim)`` displacement ``sum_k w_k B_k(points)`` in mm at one time (``weights`` (K,))."""
    b = basis(points)
    out = np.zeros(b.shape[1:])
    for w_k, b_k in zip(np.asarray(weights, dtype=np.float64), b, strict=True):
        out += w_k * b_k
    return out


def jacobian(
    basis: Basis, weights: np.ndarray, points: np.ndarray, *, h_mm: float = 0.05
) -> np.ndarray:
    """``(N, ndim, ndim)`` Jacobian ``d u_i / d x_j`` (central differences, step ``h_mm``)."""
    nd = points.shape[1]
    out = np.empty((points.shape[0], nd, nd))
    for j in range(nd):
        step = np.zeros(nd)
        step[j] = h_mm
        plus = displacement(basis, weights, points + step)
        minus = displacement(basis, weights, points - step)
        out[:, :, j] = (plus - minus) / (2.0 * h_mm)
    return out


def max_gradient(basis: Basis, weights: np.ndarray, points: np.ndarray) -> float:
    """Largest spectral norm of ``grad u`` over ``points`` (< 1 means the map is invertible)."""
    return float(np.max(np.linalg.norm(jacobian(basis, weights, points), ord=2, axis=(1, 2))))


def deformed_centroid(
    basis: Basis, weights: np.ndarray, points: np.ndarray, mass: np.ndarray
) -> np.ndarray:
    """Centroid over time of a region carried by the motion.

    The region has density ``mass`` (soft mask) at reference positions ``points``; at time ``t`` the
    material at ``x`` sits at ``x + u_t(x)`` and its area/volume is scaled by
    ``det(I + grad u_t(x))``, so the centroid is
    ``sum m J (x + u_t) / sum m J``.

    Parameters
    ----------
    basis
        The spatial basis.
    weights
        ``(T, K)`` weights.
    points
        ``(N, ndim)`` reference positions in mm (a fine sampling of the region).
    mass
        ``(N,)`` non-negative weights (soft mask times sample area).

    Returns
    -------
    numpy.ndarray
        ``(T, ndim)`` centroid positions in mm.
    """
    b = basis(points)  # K, N, d
    nd = points.shape[1]
    grads = []  # K, N, d, d
    for j in range(nd):
        step = np.zeros(nd)
        step[j] = 0.05
        grads.append((basis(points + step) - basis(points - step)) / 0.1)
    grad_b = np.stack(grads, axis=-1)
    w = np.asarray(weights, dtype=np.float64)
    disp = np.einsum("tk,knd->tnd", w, b)  # T, N, d
    jac = np.eye(nd) + np.einsum("tk,knij->tnij", w, grad_b)  # T, N, d, d
    if nd == 2:
        det = jac[..., 0, 0] * jac[..., 1, 1] - jac[..., 0, 1] * jac[..., 1, 0]
    else:
        det = np.linalg.det(jac)  # T, N
    m = det * mass
    return np.einsum("tn,tnd->td", m, points[None] + disp) / m.sum(axis=1)[:, None]


def render_moving(
    intensity: Callable[[np.ndarray], np.ndarray],
    basis: Basis,
    weights: np.ndarray,
    shape: tuple[int, ...],
    spacing_mm: tuple[float, ...],
    *,
    fine: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Form the frames of a moving analytic anatomy and their exact displacement fields.

    Frame ``t`` is ``I_t(y) = I_ref(x)`` with ``x + u_t(x) = y`` (fixed-point iteration on the
    field interpolated from a grid ``fine`` times finer than the pixels). ``I_ref`` is sampled once
    on that padded fine grid and interpolated with cubic B-splines, which reproduce the analytic
    values exactly on the pixel grid (frame 0, where ``u = 0``).

    Parameters
    ----------
    intensity
        ``(N, ndim)`` positions (mm) -> ``(N,)`` reference intensity (analytic, smooth edges).
    basis
        Spatial basis of the motion, ``(N, ndim)`` -> ``(K, N, ndim)`` mm per unit weight.
    weights
        ``(T, K)`` weights per frame (rows of zeros give the reference frame).
    shape, spacing_mm
        Pixel grid (array-axis order) and spacing in mm; pixel ``i`` sits at ``i * spacing``.
    fine
        Refinement factor of the sampling grid (2 for 2D cine; 1 keeps 3D volumes affordable).

    Returns
    -------
    frames : numpy.ndarray
        ``(T, *shape)`` noise-free intensities, float64.
    fields : numpy.ndarray
        ``(T, *shape, ndim)`` exact displacements ``u_t`` on the pixel grid, mm, float64.

    Raises
    ------
    ConfigurationError
        When the field is too steep or too large to be inverted.
    """
    nd = len(shape)
    n_t, n_k = weights.shape
    grid = grid_points(shape, spacing_mm)
    basis_grid = basis(grid)  # K, N, nd
    fields = np.zeros((n_t, grid.shape[0], nd))
    for k in range(n_k):
        fields += weights[:, k, None, None] * basis_grid[k][None]
    peak = np.max(np.abs(fields), axis=(0, 1)) if n_t else np.zeros(nd)
    margin = 1.2 * float(np.max(peak)) + 4.0 * max(spacing_mm) + 2.0
    step = np.asarray(spacing_mm, dtype=np.float64) / fine
    fov = np.asarray(shape, dtype=np.float64) * np.asarray(spacing_mm)
    pgrid = PaddedGrid.around(fov, step, margin)
    nodes = pgrid.points()
    anatomy = spline_coefficients(intensity(nodes).reshape(pgrid.shape))
    basis_nodes = np.moveaxis(basis(nodes), 2, 1).reshape(n_k, nd, *pgrid.shape)
    del nodes
    frames = np.empty((n_t, *shape))
    source = grid
    previous = np.zeros_like(grid)
    for t in range(n_t):
        if not np.any(weights[t]):
            source = grid
        else:
            u_nodes = weights[t, 0] * basis_nodes[0]
            for k in range(1, n_k):
                u_nodes += weights[t, k] * basis_nodes[k]
            # Start from the previous frame's solution, moved by the change of the field at the
            # pixels (first-order update: x + u(x) = y  =>  dx ~ -du).
            start = source - (fields[t] - previous)
            source = invert_on_grid(u_nodes, pgrid, grid, init=start)
        previous = fields[t]
        frames[t] = spline_sample(anatomy, pgrid, source).reshape(shape)
    return frames, fields.reshape(n_t, *shape, nd)
