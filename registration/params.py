"""Parameters of the pyramidal iterative Lucas-Kanade optical flow."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from motionpredict.errors import ConfigurationError

GradientOperator = Literal["central", "scharr"]
GRADIENT_OPERATORS: tuple[str, ...] = ("central", "scharr")
IntensityNormalisation = Literal["none", "meanstd"]
INTENSITY_MODES: tuple[str, ...] = ("none", "meanstd")

#: Keys of ``reference_lk_parameters`` in a dataset's ``sequence.json`` and their LKParams names.
REFERENCE_KEYS: dict[str, str] = {
    "sigma_init": "sigma_init",
    "sigma_subsample": "sigma_subsample",
    "sigma_lk": "sigma_lk",
    "pyramid_levels": "levels",
    "levels": "levels",
    "iterations": "iterations",
    "gradient": "gradient",
}


@dataclass(frozen=True)
class LKParams:
    """Settings of dense pyramidal iterative Lucas-Kanade (Bouguet) registration.

    All lengths are in voxels of the level they act on (the pyramid halves the resolution
    per level).

    The defaults (``sigma_lk=4``, ``fill_sigma=6``, ``min_eigenvalue=0.02``, 4 levels x 2
    iterations, ``intensity="meanstd"``) were chosen by leave-one-seed-out on breathing phantoms
    with exact fields (seeds 0-2, noise 0.01-0.04; see docs/registration.md): mean end-point
    error 0.198 px (dev-fitted) / 0.202 px (leave-one-out) against OpenCV Farneback 0.254 px
    and DIS 0.231 px. On real cine data with a ``sequence.json`` the sidecar's parameters are
    used instead, and ``motionpredict register`` tunes on the training frames when there is none.

    Attributes
    ----------
    sigma_init
        Standard deviation (px) of the Gaussian pre-filter applied to both images before anything
        else; 0 disables it.
    sigma_subsample
        Standard deviation (px) of the Gaussian anti-alias filter applied before each 2x
        subsampling of the pyramid; 0 disables it.
    sigma_lk
        Standard deviation (px) of the Gaussian window that weights the structure tensor
        ``M = G * (grad I grad I^T)`` and the mismatch vector ``b = -G * (grad I (J_w - I))``.
    levels
        Number of pyramid levels (1 = no pyramid).
    iterations
        Lucas-Kanade refinement iterations per level.
    gradient
        Spatial derivative operator on the reference image: ``"central"`` differences or the
        ``"scharr"`` operator (central differences smoothed by ``[1, 3, 1] / 5`` across the other
        axes). One-sided differences are used on the image edge.
    truncate
        Gaussian kernels are cut at ``truncate * sigma`` (radius ``ceil(truncate * sigma)`` px);
        2.0 reproduces MATLAB ``imgaussfilt`` as used by the reference implementation.
    cond_threshold
        A structure tensor whose normalised determinant ``det M / (tr M / n)^n`` (1 for an
        isotropic tensor, 0 for a singular one) is below this value is inverted with a truncated
        eigen-decomposition (pseudo-inverse) instead of the plain inverse.
    rcond
        Eigenvalues below ``rcond * lambda_max`` of the pixel's tensor are dropped by the
        pseudo-inverse (the flow is then only estimated along the well-determined directions:
        the aperture problem).
    max_step
        Largest update (px of the current level) of one iteration; longer steps are shortened
        to this length (the first-order expansion behind each step only holds for small
        steps). ``None`` disables the limit.
    fill_sigma
        After the iterations of each level, voxels without texture (low confidence
        ``c = lambda_min / (lambda_min + min_eigenvalue * mean eigenvalue)``) take the
        confidence-weighted Gaussian average of the flow around them (normalised convolution,
        standard deviation ``fill_sigma`` px of the level): ``u <- c u + (1 - c) G*(c u) / G*c``.
        This carries motion into uniform regions (liver interior) that local Lucas-Kanade
        cannot see; 0 disables it (the reference implementation's behaviour).
    min_eigenvalue
        Eigenvalue floor as a fraction of the level's mean eigenvalue (``mean(tr M) / n``): a
        tensor whose smallest eigenvalue is below it is inverted with damping,
        ``(M + floor I)^-1``, and a tensor whose trace is below it gives no update (the voxel
        keeps the coarser level's flow), so weak, noise-level structure cannot fit noise.
        0 keeps only a float32 round-off guard (the reference implementation).
    tikhonov
        Tikhonov regularisation ``M + lambda I`` with ``lambda = tikhonov * mean(tr M) / n`` of
        the level; 0 (default) disables it.
    intensity
        Per-frame intensity normalisation of the moving image to the reference:
        ``"meanstd"`` (default) maps the moving image, as aligned by the current flow, linearly
        so that its mean and standard deviation over the voxels it covers equal the reference
        level's there, ``J_w <- (J_w - mean J_w) std I / std J_w + mean I``, at every iteration
        of every level; a global change of brightness or contrast between frames (scanner
        scaling, windowing of exported images) is then not taken for motion. ``"none"``
        registers the intensities as they are (the reference implementation).
    """

    sigma_init: float = 0.5
    sigma_subsample: float = 1.0
    sigma_lk: float = 4.0
    levels: int = 4
    iterations: int = 2
    gradient: GradientOperator = "central"
    truncate: float = 2.0
    cond_threshold: float = 1e-3
    rcond: float = 1e-3
    max_step: float | None = None
    fill_sigma: float = 6.0
    min_eigenvalue: float = 0.02
    tikhonov: float = 0.0
    intensity: IntensityNormalisation = "meanstd"

    def __post_init__(self) -> None:
        for name in ("sigma_init", "sigma_subsample", "truncate", "cond_threshold", "rcond",
                     "min_eigenvalue", "tikhonov", "fill_sigma"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigurationError(
                    f"LKParams.{name} must be a finite number >= 0, got {value!r}"
                )
        if not (isinstance(self.sigma_lk, (int, float)) and math.isfinite(self.sigma_lk)
                and self.sigma_lk > 0):
            raise ConfigurationError(f"LKParams.sigma_lk must be > 0 px, got {self.sigma_lk!r}")
        for name in ("levels", "iterations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"LKParams.{name} must be an integer >= 1, got {value!r}")
        if self.max_step is not None and not (
            isinstance(self.max_step, (int, float)) and math.isfinite(self.max_step)
            and self.max_step > 0
        ):
            raise ConfigurationError(
                f"LKParams.max_step must be > 0 px or None, got {self.max_step!r}"
            )
        if self.truncate <= 0:
            raise ConfigurationError(f"LKParams.truncate must be > 0, got {self.truncate!r}")
        if self.intensity not in INTENSITY_MODES:
            raise ConfigurationError(
                f"LKParams.intensity must be one of {INTENSITY_MODES}, got {self.intensity!r}"
            )
        if self.gradient not in GRADIENT_OPERATORS:
            raise ConfigurationError(
                f"LKParams.gradient must be one of {GRADIENT_OPERATORS}, got {self.gradient!r}"
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], **overrides: Any) -> LKParams:
        """Build parameters from a mapping such as ``reference_lk_parameters`` of a sequence.json.

        The result is the plain algorithm of the reference implementation (no eigenvalue floor
        beyond round-off, no fill-in, no intensity normalisation: ``min_eigenvalue=0``,
        ``fill_sigma=0``, ``intensity="none"``), so that the published parameter sets reproduce
        the published fields; ``overrides`` may change that.

        Parameters
        ----------
        values
            Keys ``sigma_init``, ``sigma_subsample``, ``sigma_lk``, ``pyramid_levels`` (or
            ``levels``), ``iterations``, optionally ``gradient``; unknown keys are an error.
        **overrides
            Field values that replace those of ``values``.
        """
        kwargs: dict[str, Any] = {"min_eigenvalue": 0.0, "fill_sigma": 0.0, "intensity": "none"}
        for key, value in values.items():
            if key not in REFERENCE_KEYS:
                raise ConfigurationError(
                    f"unknown Lucas-Kanade parameter {key!r}; known: {sorted(REFERENCE_KEYS)}"
                )
            name = REFERENCE_KEYS[key]
            kwargs[name] = int(value) if name in ("levels", "iterations") else value
        kwargs.update(overrides)
        return cls(**kwargs)

    @classmethod
    def robust_from_mapping(cls, values: Mapping[str, Any], **overrides: Any) -> LKParams:
        """The parameters ``motionpredict register`` uses for data with a ``sequence.json``.

        The published set (:meth:`from_mapping`) with one more iteration per level and the
        intensity normalisation (``intensity="meanstd"``). Chosen by leave-one-sequence-out on
        the two development cine sequences (eth-1, ovgu-ks81), scored by the SSIM of the
        LK-field bound on the validation frames (see docs/registration.md): on the test frames
        SSIM 0.918 (eth-1) and 0.767 (ovgu-ks81) against 0.912 and 0.750 for the published set,
        the published bounds being 0.918 and 0.753.

        Parameters
        ----------
        values
            As for :meth:`from_mapping`.
        **overrides
            Field values that replace the result's.
        """
        base = cls.from_mapping(values)
        changes: dict[str, Any] = {"iterations": base.iterations + 1, "intensity": "meanstd"}
        changes.update(overrides)
        return base.replace(**changes)

    def replace(self, **changes: Any) -> LKParams:
        """Return a copy with some fields changed (validated)."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Return the parameters as a plain dict (for provenance and reports)."""
        return asdict(self)
