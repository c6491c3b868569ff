"""PCA motion model: a few motion modes of the displacement fields of one sequence.

Fitted on the displacement fields of the *training* frames only (never later frames); one basis
per sequence, shared by every forecasting method. With ``u_t`` flattened to a vector of
``N = n_voxels * ndim`` values in mm::

    u_t ~ mean + sum_{c=1..n} w_{t,c} phi_c          phi_c: principal directions (unit norm)
    w_t = (u_t - mean) . phi_c                        (projection, mm)

The PCA truncation error of frame ``t`` is the mean over voxels (optionally an ROI mask) of the
Euclidean norm of ``u_t - rebuilt(w_t)`` in mm: the error of the motion model alone, reported
apart from the forecasting error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.sequences import DisplacementFieldSeries, field_array

FieldsLike = DisplacementFieldSeries | np.ndarray

#: Round-off allowance when comparing truncation errors (mm).
_SLACK_MM = 1e-9


def _as_array(fields: FieldsLike) -> np.ndarray:
    return field_array(fields, dtype=np.float64, what="displacement fields")


class PCAMotionModel:
    """Principal motion modes of a sequence's displacement fields.

    Parameters
    ----------
    n_components
        Number of modes ``n`` kept (>= 1; at most the number of training frames).

    Attributes
    ----------
    mean_
        ``(*spatial, ndim)`` mean training field in mm.
    components_
        ``(n, N)`` orthonormal principal directions (flattened fields).
    explained_variance_
        ``(n,)`` variance of the training weights along each mode, mm^2.
    singular_values_
        All singular values of the centred training matrix (for choosing ``n``).
    """

    def __init__(self, n_components: int) -> None:
        if int(n_components) < 1:
            raise ConfigurationError(f"n_components must be >= 1, got {n_components}")
        self.n_components = int(n_components)
        self.mean_: np.ndarray | None = None
        self.components_: np.ndarray | None = None
        self.explained_variance_: np.ndarray | None = None
        self.singular_values_: np.ndarray | None = None

    def fit(self, fields_train: FieldsLike) -> PCAMotionModel:
        """Fit the modes on the training fields only.

        Parameters
        ----------
        fields_train
            ``(T_train, *spatial, ndim)`` fields in mm, or a
            :class:`~motionpredict.sequences.DisplacementFieldSeries` holding only training frames.

        Returns
        -------
        PCAMotionModel
            ``self``.
        """
        arr = _as_array(fields_train)
        n_t = arr.shape[0]
        if self.n_components > n_t:
            raise ConfigurationError(
                f"{self.n_components} components need at least as many training frames, got {n_t}"
            )
        x = arr.reshape(n_t, -1)
        mean = x.mean(axis=0)
        _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
        # deterministic sign: the largest-magnitude entry of each mode is positive
        signs = np.sign(vt[np.arange(vt.shape[0]), np.argmax(np.abs(vt), axis=1)])
        signs[signs == 0] = 1.0
        vt = vt * signs[:, None]
        self.mean_ = mean.reshape(arr.shape[1:])
        self.components_ = vt[: self.n_components]
        self.singular_values_ = s
        self.explained_variance_ = s[: self.n_components] ** 2 / max(n_t - 1, 1)
        return self

    def _check_fitted(self, arr: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        if self.mean_ is None or self.components_ is None:
            raise ConfigurationError("PCAMotionModel: call fit() on the training fields first")
        if arr is not None and arr.shape[1:] != self.mean_.shape:
            raise ValidationError(
                f"fields of shape {arr.shape[1:]} do not match the fitted grid {self.mean_.shape}"
            )
        return self.mean_, self.components_

    def project(self, fields: FieldsLike) -> np.ndarray:
        """Return the ``(T, n)`` weights (mm) of fields ``(T, *spatial, ndim)``."""
        arr = _as_array(fields)
        mean, comp = self._check_fitted(arr)
        return (arr.reshape(arr.shape[0], -1) - mean.ravel()) @ comp.T

    def reconstruct(self, weights: np.ndarray) -> np.ndarray:
        """Rebuild ``(T, *spatial, ndim)`` fields in mm from ``(T, n)`` (or ``(n,)``) weights."""
        mean, comp = self._check_fitted()
        w = np.asarray(weights, dtype=np.float64)
        single = w.ndim == 1
        w = np.atleast_2d(w)
        if w.shape[1] != comp.shape[0] or not np.all(np.isfinite(w)):
            raise ValidationError(
                f"weights must be finite, shape (T, {comp.shape[0]}), got {np.shape(weights)}"
            )
        out = (w @ comp + mean.ravel()).reshape(w.shape[0], *mean.shape)
        return out[0] if single else out

    def truncation_error_mm(self, fields: FieldsLike, mask: np.ndarray | None = None) -> np.ndarray:
        """Per-frame PCA truncation error in mm.

        Parameters
        ----------
        fields
            ``(T, *spatial, ndim)`` fields in mm (e.g. the Lucas-Kanade fields of every frame).
        mask
            Optional boolean ROI on the grid (``spatial`` shape); default the whole grid.

        Returns
        -------
        numpy.ndarray
            ``(T,)`` mean over (ROI) voxels of ``|u_t - rebuilt(project(u_t))|`` (Euclidean norm).
        """
        arr = _as_array(fields)
        rebuilt = self.reconstruct(self.project(arr))
        norms = np.linalg.norm(arr - rebuilt, axis=-1)  # (T, *spatial)
        if mask is None:
            return norms.reshape(arr.shape[0], -1).mean(axis=1)
        m = np.asarray(mask, dtype=bool)
        if m.shape != arr.shape[1:-1]:
            raise ValidationError(
                f"ROI mask shape {m.shape} does not match the grid {arr.shape[1:-1]}"
            )
        if not m.any():
            raise ValidationError("ROI mask selects no voxel")
        return norms[:, m].mean(axis=1)


@dataclass
class ComponentChoice:
    """Result of :func:`choose_n_components`.

    Attributes
    ----------
    n_components
        The chosen number of modes.
    errors_mm
        ``{n: mean truncation error over the validation frames, mm}`` for every candidate.
    """

    n_components: int
    errors_mm: dict[int, float]


def choose_n_components(
    fields_train: FieldsLike,
    fields_validation: FieldsLike,
    *,
    max_components: int = 4,
    tolerance_mm: float = 0.0,
    mask: np.ndarray | None = None,
) -> ComponentChoice:
    """Choose ``n`` on a validation window from the truncation error of models fitted on training.

    The smallest ``n`` whose mean validation truncation error is within ``tolerance_mm`` of the
    best candidate is chosen (``tolerance_mm = 0``: the best one, up to 1e-9 mm of round-off).

    Parameters
    ----------
    fields_train, fields_validation
        Training and validation fields ``(T, *spatial, ndim)`` in mm.
    max_components
        Largest ``n`` tried (published: 4).
    tolerance_mm
        Allowed excess error in mm for a smaller model.
    mask
        Optional ROI for the error.

    Returns
    -------
    ComponentChoice
        The choice and the error of every candidate.
    """
    train = _as_array(fields_train)
    n_max = min(int(max_components), train.shape[0])
    if n_max < 1:
        raise ConfigurationError(f"max_components must be >= 1, got {max_components}")
    mean, components = PCAMotionModel(n_max).fit(train)._check_fitted()
    errors: dict[int, float] = {}
    for n in range(1, n_max + 1):
        model = PCAMotionModel(n)
        model.mean_ = mean
        model.components_ = components[:n]  # nested modes: same as refitting with n
        errors[n] = float(np.mean(model.truncation_error_mm(fields_validation, mask)))
    best = min(errors.values())
    chosen = min(n for n, e in errors.items() if e <= best + float(tolerance_mm) + _SLACK_MM)
    return ComponentChoice(n_components=chosen, errors_mm=errors)
