"""Baseline registration methods with the interface of :class:`~.lucas_kanade.LucasKanade`.

Each class is built on a reference image and offers ``register(moving, init=None)`` returning a
``(ndim, *shape)`` float32 flow in px with ``reference(x) ~ moving(x + flow(x))``:

* :class:`DISRegistrar` - OpenCV Dense Inverse Search (2D, presets ``ultrafast``, ``fast``,
  ``medium``);
* :class:`FarnebackRegistrar` - OpenCV Farneback polynomial-expansion flow (2D);
* :class:`DemonsRegistrar` - SimpleITK fast symmetric-forces demons (2D and 3D).

OpenCV works on 8-bit images: intensities are mapped to 0..255 with the reference's min..max.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import SimpleITK as sitk

from motionpredict.errors import ConfigurationError, ValidationError

DIS_PRESETS: dict[str, int] = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def _as_image(x: Any, what: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim not in (2, 3) or not np.all(np.isfinite(arr)):
        raise ValidationError(f"{what} must be a finite 2D or 3D array, got shape {arr.shape}")
    return arr


class _Base:
    """Common checks: reference image, shape of moving frames and initial flows."""

    method = ""

    def __init__(self, reference: Any) -> None:
        self.reference = _as_image(reference, "reference image")
        self.shape = self.reference.shape
        self.ndim = self.reference.ndim

    def _check(self, moving: Any, init: Any) -> tuple[np.ndarray, np.ndarray | None]:
        mov = _as_image(moving, "moving image")
        if mov.shape != self.shape:
            raise ValidationError(f"moving image shape {mov.shape} differs from {self.shape}")
        if init is not None:
            init = np.asarray(init, dtype=np.float32)
            if init.shape != (self.ndim, *self.shape):
                raise ValidationError(f"init flow must be {(self.ndim, *self.shape)} px")
        return mov, init


class _OpenCV2D(_Base):
    def __init__(self, reference: Any) -> None:
        super().__init__(reference)
        if self.ndim != 2:
            raise ConfigurationError(f"{self.method} is a 2D method; got a {self.ndim}D reference")
        if min(self.shape) < 12:
            raise ConfigurationError(
                f"{self.method} needs frames of at least 12 x 12 px, got {self.shape}"
            )
        lo, hi = float(self.reference.min()), float(self.reference.max())
        self._lo, self._scale = lo, 255.0 / (hi - lo if hi > lo else 1.0)
        self._ref8 = self._to8(self.reference)

    def _to8(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.rint((x - self._lo) * self._scale), 0, 255).astype(np.uint8)

    @staticmethod
    def _to_cv(init: np.ndarray | None) -> np.ndarray | None:
        return None if init is None else np.ascontiguousarray(np.stack([init[1], init[0]], -1))


class DISRegistrar(_OpenCV2D):
    """OpenCV DIS optical flow (Kroeger et al. 2016).

    Parameters
    ----------
    reference
        ``(H, W)`` reference image.
    preset
        ``"ultrafast"``, ``"fast"`` or ``"medium"``.
    """

    method = "dis"

    def __init__(self, reference: Any, preset: str = "medium") -> None:
        if preset not in DIS_PRESETS:
            raise ConfigurationError(
                f"unknown DIS preset {preset!r}; choose from {list(DIS_PRESETS)}"
            )
        super().__init__(reference)
        self.preset = preset
        self._dis = cv2.DISOpticalFlow.create(DIS_PRESETS[preset])

    def register(self, moving: Any, init: Any = None) -> np.ndarray:
        """Flow ``(2, H, W)`` px from the reference to ``moving``."""
        mov, init = self._check(moving, init)
        flow0 = self._to_cv(init)  # DIS starts from a given flow of the right size and type
        # opencv stub types the in/out flow as required; None (no initial flow) is valid
        flow = self._dis.calc(self._ref8, self._to8(mov), flow0)  # type: ignore[arg-type]
        return np.ascontiguousarray(np.stack([flow[..., 1], flow[..., 0]]), dtype=np.float32)


class FarnebackRegistrar(_OpenCV2D):
    """OpenCV Farneback dense flow (Farneback 2003); keyword options as in
    ``cv2.calcOpticalFlowFarneback`` (``pyr_scale``, ``levels``, ``winsize``, ``iterations``,
    ``poly_n``, ``poly_sigma``)."""

    method = "farneback"

    def __init__(self, reference: Any, *, pyr_scale: float = 0.5, levels: int = 3,
                 winsize: int = 15, iterations: int = 3, poly_n: int = 5,
                 poly_sigma: float = 1.2) -> None:
        super().__init__(reference)
        self.options = (pyr_scale, levels, winsize, iterations, poly_n, poly_sigma)

    def register(self, moving: Any, init: Any = None) -> np.ndarray:
        """Flow ``(2, H, W)`` px from the reference to ``moving``."""
        mov, init = self._check(moving, init)
        flow0 = self._to_cv(init)
        flags = cv2.OPTFLOW_USE_INITIAL_FLOW if flow0 is not None else 0
        # opencv stub types the in/out flow as required; None (no initial flow) is valid
        flow = cv2.calcOpticalFlowFarneback(self._ref8, self._to8(mov), flow0,  # type: ignore[arg-type]
                                            *self.options, flags)
        return np.ascontiguousarray(np.stack([flow[..., 1], flow[..., 0]]), dtype=np.float32)


class DemonsRegistrar(_Base):
    """SimpleITK fast symmetric-forces demons (Thirion; Vercauteren et al.), 2D and 3D.

    Parameters
    ----------
    reference
        ``(H, W)`` or ``(D, H, W)`` reference (fixed) image; voxels are treated as 1 px cubes.
    iterations
        Demons iterations.
    smoothing
        Standard deviation (px) of the Gaussian regularisation of the displacement field.
    """

    method = "demons"

    def __init__(self, reference: Any, *, iterations: int = 50, smoothing: float = 1.0) -> None:
        super().__init__(reference)
        self.iterations = int(iterations)
        self.smoothing = float(smoothing)
        self._fixed = sitk.GetImageFromArray(self.reference)

    def register(self, moving: Any, init: Any = None) -> np.ndarray:
        """Flow ``(ndim, *shape)`` px from the reference to ``moving``."""
        mov, init = self._check(moving, init)
        demons = sitk.FastSymmetricForcesDemonsRegistrationFilter()
        demons.SetNumberOfIterations(self.iterations)
        demons.SetStandardDeviations(self.smoothing)
        moving_img = sitk.GetImageFromArray(mov)
        if init is None:
            field = demons.Execute(self._fixed, moving_img)
        else:
            xyz = np.moveaxis(init[::-1], 0, -1).astype(np.float64)  # x-first components
            init_img = sitk.GetImageFromArray(xyz, isVector=True)
            field = demons.Execute(self._fixed, moving_img, init_img)
        arr = sitk.GetArrayFromImage(field)  # (*shape, ndim), components x-first
        return np.ascontiguousarray(np.moveaxis(arr, -1, 0)[::-1], dtype=np.float32)
