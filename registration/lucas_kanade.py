"""Dense pyramidal iterative Lucas-Kanade optical flow (Bouguet), 2D and 3D.

For every voxel ``x`` the displacement ``u(x)`` (px, array-axis order) that satisfies
``I(x) ~ J(x + u(x))`` is refined, from the coarsest pyramid level to the finest, by

.. math::

    M = G_{\\sigma_{LK}} * (\\nabla I \\, \\nabla I^T), \\qquad
    b = -G_{\\sigma_{LK}} * (\\nabla I \\, (J(x + u) - I(x))), \\qquad
    u \\leftarrow u + M^{-1} b,

where ``I`` is the reference image, ``J`` the moving image and ``G`` a Gaussian window. The
gradient and the structure tensor ``M`` belong to the reference only, so :class:`LucasKanade`
computes them (and ``M^{-1}``) once per reference and registers any number of frames against it.
Ill-conditioned tensors (flat regions, edges: the aperture problem) are inverted with a truncated
eigen-decomposition. Every operation is a whole-image array operation (no loop over voxels); the
same code runs on NumPy/SciPy/OpenCV and on torch (CPU or CUDA).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from motionpredict.errors import ValidationError
from motionpredict.registration.backends import Backend, get_backend
from motionpredict.registration.gradient import gradient
from motionpredict.registration.params import LKParams
from motionpredict.registration.pyramid import build_pyramid, downsample_flow, upsample_flow


def _check_image(image: Any, what: str) -> np.ndarray:
    arr = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image)
    if arr.ndim not in (2, 3) or min(arr.shape) < 1:
        raise ValidationError(f"{what} must be a 2D (H, W) or 3D (D, H, W) array, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValidationError(f"{what} contains NaN or Inf")
    return arr


class _Level:
    """Reference data of one pyramid level.

    Attributes: ``image``; ``grads`` (one array per axis); ``inverse`` (upper triangle of the
    per-voxel (pseudo-)inverse structure tensor); ``confidence`` (0..1 texture measure) and its
    Gaussian-smoothed version ``confidence_smooth`` (``None`` without fill-in).
    """

    def __init__(self, image: Any, grads: list[Any], inverse: dict[tuple[int, int], Any],
                 confidence: Any, confidence_smooth: Any) -> None:
        self.image = image
        self.grads = grads
        self.inverse = inverse
        self.confidence = confidence
        self.confidence_smooth = confidence_smooth
        #: whole-level mean and variance of the image (intensity normalisation; lazily)
        self.stats: tuple[float, float] | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.image.shape)


class LucasKanade:
    """Lucas-Kanade registration of frames to one fixed reference image.

    Parameters
    ----------
    reference
        ``(H, W)`` or ``(D, H, W)`` reference image (any intensity unit).
    params
        Algorithm settings; :class:`LKParams` defaults when ``None``.
    backend
        ``"numpy"`` or ``"torch"``.
    device
        Torch device; CUDA when available by default (ignored by ``"numpy"``).

    Examples
    --------
    >>> lk = LucasKanade(frames[0], LKParams(sigma_lk=2.0, levels=2, iterations=1))
    >>> flow = lk.register(frames[5])          # (2, H, W) px: frames[0](x) ~ frames[5](x + flow)
    """

    def __init__(self, reference: Any, params: LKParams | None = None, *, backend: str = "numpy",
                 device: str | None = None) -> None:
        ref = _check_image(reference, "reference image")
        self.params = params if params is not None else LKParams()
        self.backend: Backend = get_backend(backend, device)
        self.shape = tuple(int(s) for s in ref.shape)
        self.ndim = ref.ndim
        b, p = self.backend, self.params
        filtered = b.gaussian(b.asarray(ref), p.sigma_init, p.truncate)
        pyramid = build_pyramid(b, filtered, p.levels, p.sigma_subsample, p.truncate)
        self._levels = [self._prepare(level) for level in pyramid]

    # ------------------------------------------------------------------ reference side
    def _prepare(self, image: Any) -> _Level:
        b, p, n = self.backend, self.params, self.ndim
        grads = gradient(b, image, p.gradient)
        m = {(i, j): b.gaussian(grads[i] * grads[j], p.sigma_lk, p.truncate)
             for i in range(n) for j in range(i, n)}
        trace = sum(m[(i, i)] for i in range(n))
        if p.tikhonov > 0:
            lam = p.tikhonov * float(trace.mean()) / n
            for i in range(n):
                m[(i, i)] = m[(i, i)] + lam
            trace = trace + n * lam
        inverse, confidence = self._invert(m, trace)
        smooth = b.gaussian(confidence, p.fill_sigma, p.truncate) if p.fill_sigma > 0 else None
        return _Level(image, grads, inverse, confidence, smooth)

    def _adjugate(self, m: dict[tuple[int, int], Any]) -> tuple[dict[tuple[int, int], Any], Any]:
        """Upper triangle of the adjugate and the determinant of per-voxel symmetric tensors."""
        if self.ndim == 2:
            a, bb, c = m[(0, 0)], m[(0, 1)], m[(1, 1)]
            return {(0, 0): c, (0, 1): -bb, (1, 1): a}, a * c - bb * bb
        a, bb, c = m[(0, 0)], m[(0, 1)], m[(0, 2)]
        d, e, f = m[(1, 1)], m[(1, 2)], m[(2, 2)]
        adj = {(0, 0): d * f - e * e, (0, 1): c * e - bb * f, (0, 2): bb * e - c * d,
               (1, 1): a * f - c * c, (1, 2): bb * c - a * e, (2, 2): a * d - bb * bb}
        return adj, a * adj[(0, 0)] + bb * adj[(0, 1)] + c * adj[(0, 2)]

    def _invert(self, m: dict[tuple[int, int], Any],
                trace: Any) -> tuple[dict[tuple[int, int], Any], Any]:
        """(Pseudo-)inverse of the per-voxel symmetric tensors and a 0..1 texture confidence.

        * well-conditioned tensors with enough texture: plain inverse (adjugate / determinant);
        * well-conditioned but weak (smallest eigenvalue below the floor): damped inverse
          ``(M + floor I)^-1``, so noise-level structure cannot produce large steps;
        * rank-deficient tensors (edges, ``det M / (tr M / n)^n < cond_threshold``): truncated
          eigen-decomposition (pseudo-inverse); uniform voxels (``tr M <= floor``): zero.
        """
        b, p, n = self.backend, self.params, self.ndim
        adj, det = self._adjugate(m)
        # eigenvalue floor: a fraction of the level's mean eigenvalue (weak, noise-level
        # structure carries no usable motion information) and a float32 round-off guard
        mean_eigenvalue = float(trace.mean()) / n
        floor = max(p.min_eigenvalue * mean_eigenvalue, 1e-7 * float(trace.max()), 1e-20)
        scale = (trace * (1.0 / n)) ** n  # (mean eigenvalue)^n
        ratio = det / b.where(scale > 0, scale, 1.0)
        # lower bound of the smallest eigenvalue: det / e_{n-1}, where e_{n-1} (the trace in 2D,
        # the sum of the principal 2x2 minors in 3D) bounds the product of the other eigenvalues
        others = trace if n == 2 else adj[(0, 0)] + adj[(1, 1)] + adj[(2, 2)]
        lam_min = det / b.where(others > 0, others, 1.0)
        lam_pos = b.where(lam_min > 0, lam_min, 0.0)
        confidence = lam_pos / (lam_pos + max(p.min_eigenvalue * mean_eigenvalue, 1e-20))
        well = (ratio > p.cond_threshold) & (trace > floor)
        weak = well & (lam_min <= floor)
        if bool(weak.any()):
            damp = b.where(weak, floor, 0.0)
            damped = dict(m)
            for i in range(n):
                damped[(i, i)] = m[(i, i)] + damp
            adj, det = self._adjugate(damped)
        safe_det = b.where(well, det, 1.0)
        inverse = {key: b.where(well, value / safe_det, 0.0) for key, value in adj.items()}
        bad = (~well) & (trace > floor)
        if bool(bad.any()):
            mats = b.stack([b.stack([m[(min(i, j), max(i, j))][bad] for j in range(n)])
                            for i in range(n)])  # (n, n, K)
            mats = mats.permute(2, 0, 1) if hasattr(mats, "permute") else mats.transpose(2, 0, 1)
            pinv = b.pinv_sym(mats, p.rcond, floor)
            for key in inverse:
                inverse[key][bad] = pinv[:, key[0], key[1]]
        return inverse, confidence

    # ------------------------------------------------------------------ moving side
    def _refine(self, level: _Level, moving: Any, u: Any) -> Any:
        b, p, n = self.backend, self.params, self.ndim
        fused = getattr(b, "refine_2d", None)
        if fused is not None and n == 2 and min(level.shape) >= 2:  # "fast": numba passes
            return fused(self, level, moving, u)
        grid = b.grid(level.shape)
        for _ in range(p.iterations):
            pulled = b.pull(moving, u)
            # voxels whose match lies outside the moving image carry no information: their
            # residual is dropped from b (M keeps them), which damps the flow near such borders
            inside = None
            for g, comp, n_axis in zip(grid, u, level.shape, strict=True):
                pos = g + comp
                ok = (pos >= -0.5) & (pos <= n_axis - 0.5)
                inside = ok if inside is None else inside & ok
            if p.intensity == "meanstd":
                pulled = self._match_intensity(pulled, level, inside)
            dt = b.where(inside, pulled - level.image, 0.0)
            rhs = [b.gaussian(g * dt, p.sigma_lk, p.truncate) * -1.0 for g in level.grads]
            step = []
            for i in range(n):
                acc = level.inverse[(min(i, 0), max(i, 0))] * rhs[0]
                for j in range(1, n):
                    acc = acc + level.inverse[(min(i, j), max(i, j))] * rhs[j]
                step.append(acc)
            if p.max_step is not None:
                # the linearisation only holds for small steps: limit |step| to max_step px
                norm = step[0] * step[0]
                for comp in step[1:]:
                    norm = norm + comp * comp
                norm = norm**0.5
                shrink = b.where(norm > p.max_step, p.max_step / b.where(norm > 0, norm, 1.0),
                                 1.0)
                step = [comp * shrink for comp in step]
            u = u + b.stack(step)
        if level.confidence_smooth is not None:
            # normalised convolution: voxels without texture take the confidence-weighted
            # average flow of their neighbourhood (radius ~ fill_sigma px of this level)
            c = level.confidence
            den = level.confidence_smooth
            safe = b.where(den > 1e-6, den, 1.0)
            filled = b.stack([b.where(den > 1e-6, b.gaussian(c * comp, p.fill_sigma, p.truncate)
                                      / safe, comp) for comp in u])
            u = u * c + filled * (1.0 - c)
        return u

    def _match_intensity(self, pulled: Any, level: _Level, inside: Any) -> Any:
        """Map the pulled moving image linearly so that its mean and standard deviation over
        the voxels ``inside`` equal the reference level's there (``intensity="meanstd"``).

        Computed on the moving image as currently aligned, so that the statistics compare the
        same anatomy: a global change of brightness or contrast is removed, motion is not.
        """
        if isinstance(pulled, np.ndarray):
            return self._match_intensity_numpy(pulled, level, inside)
        b, image = self.backend, level.image
        w = b.where(inside, 1.0, 0.0)
        k = float(w.sum())
        if k < 2:
            return pulled
        pw, iw = pulled * w, image * w
        mj, mi = float(pw.sum()) / k, float(iw.sum()) / k
        vj = float((pw * pulled).sum()) / k - mj * mj
        vi = float((iw * image).sum()) / k - mi * mi
        if not (vj > 1e-12 * max(1.0, mj * mj) and vi > 0):
            return pulled + (mi - mj)
        gain = (vi / vj) ** 0.5
        return pulled * gain + (mi - mj * gain)

    @staticmethod
    def _stats(x: np.ndarray) -> tuple[float, float]:
        """Mean and variance of a float32 array (centred second moment, float64 sums)."""
        flat = x.reshape(-1)
        mean = float(flat.mean(dtype=np.float64))
        centred = flat - np.float32(mean)
        return mean, float(np.dot(centred, centred)) / flat.size

    def _match_intensity_numpy(self, pulled: np.ndarray, level: _Level,
                               inside: np.ndarray) -> np.ndarray:
        """NumPy path of :meth:`_match_intensity`: three passes when every voxel is inside
        (the reference level's statistics are computed once), masked statistics otherwise."""
        image = level.image
        if inside.all():
            if level.stats is None:
                level.stats = self._stats(image)
            mi, vi = level.stats
            mj, vj = self._stats(pulled)
        else:
            if int(inside.sum()) < 2:
                return pulled
            mi, vi = self._stats(image[inside])
            mj, vj = self._stats(pulled[inside])
        if not (vj > 1e-12 * max(1.0, mj * mj) and vi > 0):
            pulled += np.float32(mi - mj)
            return pulled
        gain = (vi / vj) ** 0.5
        pulled *= np.float32(gain)
        pulled += np.float32(mi - mj * gain)
        return pulled

    def register_backend(self, moving: Any, init: Any = None) -> Any:
        """Like :meth:`register` but returns the flow as an array of the back-end."""
        mov = _check_image(moving, "moving image")
        if mov.shape != self.shape:
            raise ValidationError(
                f"moving image shape {mov.shape} differs from the reference shape {self.shape}"
            )
        b, p = self.backend, self.params
        filtered = b.gaussian(b.asarray(mov), p.sigma_init, p.truncate)
        pyramid = build_pyramid(b, filtered, p.levels, p.sigma_subsample, p.truncate)
        top = self._levels[-1]
        if init is None:
            u = b.zeros((self.ndim, *top.shape))
        else:
            init_arr = np.asarray(init.detach().cpu() if hasattr(init, "detach") else init)
            if init_arr.shape != (self.ndim, *self.shape) or not np.all(np.isfinite(init_arr)):
                raise ValidationError(
                    f"init flow must be finite with shape {(self.ndim, *self.shape)} (px), "
                    f"got {init_arr.shape}"
                )
            u = downsample_flow(b.asarray(init_arr), p.levels)
        for index in range(p.levels - 1, -1, -1):
            level = self._levels[index]
            if index < p.levels - 1:
                fast_up = getattr(b, "upsample_flow", None)  # the "fast" back-end: numba
                u = (fast_up(u, level.shape) if fast_up is not None
                     else upsample_flow(b, u, level.shape))
            u = self._refine(level, pyramid[index], u)
        return u

    def register(self, moving: Any, init: Any = None) -> np.ndarray:
        """Register ``moving`` to the reference.

        Parameters
        ----------
        moving
            Image of the reference's shape.
        init
            Optional initial flow ``(ndim, *shape)`` in px (e.g. the previous frame's field:
            temporal propagation); zero by default.

        Returns
        -------
        numpy.ndarray
            ``(ndim, *shape)`` float32 flow in px, array-axis order, with
            ``reference(x) ~ moving(x + flow(x))``.
        """
        return self.backend.to_numpy(self.register_backend(moving, init))


def lucas_kanade(reference: Any, moving: Any, *, params: LKParams | None = None,
                 backend: str = "numpy", init: Any = None, device: str | None = None) -> np.ndarray:
    """Dense pyramidal iterative Lucas-Kanade flow between two images.

    Parameters
    ----------
    reference, moving
        ``(H, W)`` or ``(D, H, W)`` images of the same shape.
    params
        Settings (:class:`LKParams` defaults when ``None``).
    backend
        ``"numpy"`` or ``"torch"``.
    init
        Optional initial flow ``(ndim, *shape)`` in px.
    device
        Torch device (``"torch"`` back-end only).

    Returns
    -------
    numpy.ndarray
        ``(ndim, *shape)`` float32 flow in px (array-axis order) with
        ``reference(x) ~ moving(x + flow(x))``.
    """
    return LucasKanade(reference, params, backend=backend, device=device).register(moving, init)
