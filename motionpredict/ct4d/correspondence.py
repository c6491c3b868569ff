"""Correspondence models: from a surrogate (internal points, markers, PCA weights) to a 3D field.

A correspondence model is fitted on ``n`` training pairs ``(s_i, u_i)``: surrogate vectors ``s_i``
(``p`` values: the flattened 3D positions of tracked points in mm, marker coordinates, a surface
signal, PCA weights) and displacement fields ``u_i`` (mm), typically the phases of a 4DCT. Both
models here predict a field as a combination of the training fields,
``u(s) = sum_i c_i(s) u_i``, so a prediction costs one weighted sum over ``n`` fields.

Surrogates are standardised with the training mean and standard deviation (``z = (s - m) / sd``).

:class:`LinearCorrespondence` (ridge regression)
    ``u(s) = u_bar + sum_i g_i(s) (u_i - u_bar)``, ``g(s) = Z (Z^T Z + lambda I)^{-1} z`` with
    ``Z`` the centred standardised training surrogates, i.e. the least-squares linear map from
    surrogate to field with penalty ``lambda``; it extrapolates linearly beyond the training range.
:class:`NadarayaWatsonCorrespondence` (kernel regression)
    ``c_i(s) = K(z - z_i) / sum_j K(z - z_j)``, ``K(d) = exp(-|d|^2 / (2 h^2))``: a locally
    weighted average of training fields; it never leaves their convex hull (no extrapolation).

The penalty ``lambda`` / the width ``h`` are chosen on the training data only, by leave-one-out
cross-validation: for each candidate, every training field is predicted from the others and the
candidate with the smallest RMS field error (mm, over the voxels of ``mask``) wins. The errors of
all candidates are kept in :attr:`CorrespondenceModel.cv_table_`. The field error is computed
from the Gram matrix ``G_ij = <u_i, u_j>`` over the mask (``|sum_j c_j u_j - u_i|^2 =
c^T G c - 2 c^T G_i + G_ii``), so cross-validation never builds a field.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.forecasters import Standardizer
from motionpredict.sequences import DisplacementFieldSeries, field_array

#: Default candidate kernel widths ``h`` (units of the training standard deviation, per feature).
NW_WIDTHS: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0)
#: Default candidate ridge penalties ``lambda`` (relative to ``n``: the penalty is ``lambda n``).
RIDGE_GRID: tuple[float, ...] = (1e-6, 1e-4, 1e-3, 1e-2, 0.03, 0.1, 0.3, 1.0)


def _as_fields(fields: DisplacementFieldSeries | np.ndarray) -> np.ndarray:
    return field_array(fields, dtype=np.float32, what="training fields")


def _as_surrogates(s: np.ndarray, n: int | None = None, p: int | None = None) -> np.ndarray:
    arr = np.asarray(s, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None] if (p == 1 or (p is None and n is not None)) else arr[None]
    if arr.ndim != 2 or not np.all(np.isfinite(arr)):
        raise ValidationError(f"surrogates must be a finite (n, p) array, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValidationError(f"{arr.shape[0]} surrogate samples for {n} training fields")
    if p is not None and arr.shape[1] != p:
        raise ValidationError(f"surrogates need {p} values each, got {arr.shape[1]}")
    return arr


class CorrespondenceModel(ABC):
    """Base class: fit on ``(surrogate, field)`` pairs, predict fields as combinations of them.

    Attributes (after :meth:`fit`)
    ------------------------------
    fields_
        ``(n, *spatial, ndim)`` training fields, mm (float32).
    standardizer_
        Surrogate standardisation (training statistics).
    cv_table_
        ``{candidate: leave-one-out RMS field error in mm}``.
    chosen_
        The selected penalty / width.
    cv_error_mm_
        Its leave-one-out RMS field error, mm.
    """

    #: Short name used in reports (``"linear"``, ``"nw"``).
    name = ""

    def __init__(self, grid: tuple[float, ...]) -> None:
        grid = tuple(float(g) for g in grid)
        if not grid or not all(np.isfinite(g) and g > 0 for g in grid):
            raise ConfigurationError(f"{self.name}: candidates must be positive, got {grid}")
        self.grid = grid
        self.fields_: np.ndarray | None = None
        self.standardizer_: Standardizer | None = None
        self.z_: np.ndarray | None = None
        self.cv_table_: dict[float, float] = {}
        self.chosen_: float | None = None
        self.cv_error_mm_: float | None = None

    # ------------------------------------------------------------------ to implement
    @abstractmethod
    def _coefficients(self, z: np.ndarray, z_train: np.ndarray, value: float) -> np.ndarray:
        """``(m, n_train)`` coefficients of the training fields for standardised queries
        ``z`` (``(m, p)``) given training surrogates ``z_train`` and candidate ``value``."""

    # ------------------------------------------------------------------ public API
    def fit(self, surrogates: np.ndarray, fields: DisplacementFieldSeries | np.ndarray, *,
            mask: np.ndarray | None = None) -> CorrespondenceModel:
        """Fit on training pairs; choose the candidate by leave-one-out cross-validation.

        Parameters
        ----------
        surrogates
            ``(n, p)`` training surrogate vectors (``(n,)`` for a scalar surrogate).
        fields
            ``(n, *spatial, ndim)`` training fields, mm.
        mask
            Optional bool ROI on the grid where the cross-validation error is measured
            (default: every voxel).

        Returns
        -------
        CorrespondenceModel
            ``self``.
        """
        u = _as_fields(fields)
        n = u.shape[0]
        if n < 3:
            raise ConfigurationError(f"{self.name}: at least 3 training pairs needed, got {n}")
        s = _as_surrogates(surrogates, n=n)
        self.standardizer_ = Standardizer(s)
        z = self.standardizer_.transform(s)
        flat = u.reshape(n, -1, u.shape[-1])
        if mask is not None:
            m = np.asarray(mask, dtype=bool)
            if m.shape != u.shape[1:-1] or not m.any():
                raise ValidationError(f"mask must be a non-empty {u.shape[1:-1]} bool array")
            flat = flat[:, m.ravel()]
        n_vox = flat.shape[1]
        x = flat.reshape(n, -1).astype(np.float64)
        gram = x @ x.T
        self.cv_table_ = {}
        for value in self.grid:
            sq = 0.0
            for i in range(n):
                keep = np.arange(n) != i
                c = np.zeros(n)
                c[keep] = self._coefficients(z[i : i + 1], z[keep], value)[0]
                sq += float(c @ gram @ c - 2.0 * c @ gram[:, i] + gram[i, i])
            self.cv_table_[value] = float(np.sqrt(max(sq, 0.0) / (n * n_vox)))
        self.chosen_ = min(self.cv_table_, key=lambda v: (self.cv_table_[v], v))
        self.cv_error_mm_ = self.cv_table_[self.chosen_]
        self.fields_ = u
        self.z_ = z
        return self

    def _fitted(self) -> tuple[np.ndarray, Standardizer, np.ndarray, float]:
        if self.fields_ is None or self.standardizer_ is None or self.z_ is None:
            raise ConfigurationError(f"{self.name} correspondence: call fit() first")
        assert self.chosen_ is not None
        return self.fields_, self.standardizer_, self.z_, self.chosen_

    def coefficients(self, surrogates: np.ndarray) -> np.ndarray:
        """``(m, n)`` coefficients of the training fields for ``(m, p)`` surrogates."""
        _, std, z_train, value = self._fitted()
        s = _as_surrogates(surrogates, p=z_train.shape[1])
        return self._coefficients(std.transform(s), z_train, value)

    def predict(self, surrogates: np.ndarray) -> np.ndarray:
        """Predicted field(s), mm.

        Parameters
        ----------
        surrogates
            ``(p,)`` for one field or ``(m, p)`` for several.

        Returns
        -------
        numpy.ndarray
            ``(*spatial, ndim)`` or ``(m, *spatial, ndim)`` float32 fields in mm.
        """
        fields, _, z_train, _ = self._fitted()
        arr = np.asarray(surrogates, dtype=np.float64)
        single = arr.ndim == 1 and (arr.shape[0] == z_train.shape[1])
        if arr.ndim == 0:
            arr, single = arr[None], True
        c = self.coefficients(arr[None] if single else arr).astype(np.float32)
        out = np.tensordot(c, fields, axes=(1, 0))
        return out[0] if single else out


class LinearCorrespondence(CorrespondenceModel):
    """Ridge-regularised linear map from surrogate to field (see the module docstring).

    Parameters
    ----------
    ridges
        Candidate penalties ``lambda`` (multiplied by the number of training pairs).
    """

    name = "linear"

    def __init__(self, ridges: tuple[float, ...] = RIDGE_GRID) -> None:
        super().__init__(ridges)

    def _coefficients(self, z: np.ndarray, z_train: np.ndarray, value: float) -> np.ndarray:
        n, p = z_train.shape
        mean = z_train.mean(axis=0)
        zc = z_train - mean
        a = zc.T @ zc + value * n * np.eye(p)
        g = (z - mean) @ np.linalg.solve(a, zc.T)  # (m, n)
        return g + 1.0 / n


class NadarayaWatsonCorrespondence(CorrespondenceModel):
    """Gaussian-kernel Nadaraya-Watson regression from surrogate to field (module docstring).

    Parameters
    ----------
    widths
        Candidate kernel widths ``h`` in units of the training standard deviation of each
        surrogate feature.
    """

    name = "nw"

    def __init__(self, widths: tuple[float, ...] = NW_WIDTHS) -> None:
        super().__init__(widths)

    def _coefficients(self, z: np.ndarray, z_train: np.ndarray, value: float) -> np.ndarray:
        d2 = np.sum((z[:, None, :] - z_train[None, :, :]) ** 2, axis=2)
        logk = -0.5 * d2 / value**2
        logk -= logk.max(axis=1, keepdims=True)  # stable: the nearest pair has weight 1
        k = np.exp(logk)
        return k / k.sum(axis=1, keepdims=True)


def make_correspondence(name: str, **options: tuple[float, ...]) -> CorrespondenceModel:
    """Return an unfitted model by name: ``"linear"`` or ``"nw"`` (Nadaraya-Watson)."""
    if name == "linear":
        return LinearCorrespondence(**options)
    if name in ("nw", "nadaraya-watson"):
        return NadarayaWatsonCorrespondence(**options)
    raise ConfigurationError(f"unknown correspondence model {name!r}; choose 'linear' or 'nw'")
