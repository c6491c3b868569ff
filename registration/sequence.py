"""Registration of a whole image sequence to one of its frames."""

from __future__ import annotations

import time
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.registration.baselines import DemonsRegistrar, DISRegistrar, FarnebackRegistrar
from motionpredict.registration.lucas_kanade import LucasKanade
from motionpredict.registration.params import LKParams
from motionpredict.registration.plausibility import (
    DEFAULT_MAX_DISPLACEMENT_MM,
    cap_displacements,
    check_cap,
)
from motionpredict.sequences import DisplacementFieldSeries, ImageSequence, Provenance

METHODS: tuple[str, ...] = ("lk", "dis", "farneback", "demons")


class Registrar(Protocol):
    """A registration method bound to a reference image."""

    def register(self, moving: Any, init: Any = None) -> np.ndarray:
        """Return the ``(ndim, *shape)`` flow in px with ``reference(x) ~ moving(x + flow)``."""


def make_registrar(method: str, reference: np.ndarray, *, params: LKParams | None = None,
                   backend: str = "numpy", device: str | None = None,
                   **options: Any) -> Registrar:
    """Build the registration method ``method`` for a reference image.

    Parameters
    ----------
    method
        ``"lk"`` (Lucas-Kanade), ``"dis"``, ``"farneback"`` (2D) or ``"demons"``.
    reference
        ``(H, W)`` or ``(D, H, W)`` reference image.
    params
        Lucas-Kanade settings (``"lk"`` only).
    backend, device
        Lucas-Kanade array back-end (``"numpy"`` / ``"torch"``) and torch device.
    **options
        Options of the baseline class (e.g. ``preset="fast"`` for DIS).
    """
    if method == "lk":
        if options:
            raise ConfigurationError(f"unexpected Lucas-Kanade options {sorted(options)}")
        return LucasKanade(reference, params, backend=backend, device=device)
    if params is not None:
        raise ConfigurationError(f"LK parameters given for method {method!r}")
    if method == "dis":
        return DISRegistrar(reference, **options)
    if method == "farneback":
        return FarnebackRegistrar(reference, **options)
    if method == "demons":
        return DemonsRegistrar(reference, **options)
    raise ConfigurationError(f"unknown registration method {method!r}; choose one of {METHODS}")


def register_sequence(seq: ImageSequence, *, method: str = "lk", reference: int = 0,
                      params: LKParams | None = None, backend: str = "numpy",
                      propagate: bool = False, progress: bool = False,
                      device: str | None = None,
                      max_displacement_mm: float | None = DEFAULT_MAX_DISPLACEMENT_MM,
                      **options: Any) -> DisplacementFieldSeries:
    """Register every frame of ``seq`` to frame ``reference``.

    Parameters
    ----------
    seq
        2D cine or 3D phase sequence (spacing in mm).
    method
        ``"lk"``, ``"dis"``, ``"farneback"`` or ``"demons"``.
    reference
        0-based index of the reference frame (the CLI's ``--reference`` is 1-based).
    params
        Lucas-Kanade settings (defaults of :class:`LKParams` when ``None``).
    backend
        ``"numpy"`` or ``"torch"`` (Lucas-Kanade only).
    propagate
        Start each frame from the field of its neighbour closer to the reference (temporal
        propagation) instead of zero; frames after the reference are processed forward, frames
        before it backward.
    progress
        Show a tqdm progress bar over frames.
    device
        Torch device (``backend="torch"``).
    max_displacement_mm
        Plausible-range cap (mm): voxels whose displacement is longer are replaced by the
        average of their plausible neighbourhood (see :func:`.plausibility.cap_displacements`)
        and counted; ``None`` keeps the fields as registered.
    **options
        Baseline options (see :func:`make_registrar`).

    Returns
    -------
    DisplacementFieldSeries
        ``(T, *shape, ndim)`` fields in mm (``I_ref(x) ~ I_t(x + u_t(x))``); the reference
        frame's field is zero. ``provenance.extra["registration"]`` holds the method, its
        parameters, the per-frame computation times ``frame_time_s`` (s), the cap
        ``max_displacement_mm`` and the per-frame number of replaced voxels ``capped_voxels``.
    """
    n = seq.n_frames
    if not 0 <= int(reference) < n:
        raise ValidationError(f"reference frame index {reference} outside 0..{n - 1}")
    reference = int(reference)
    cap = check_cap(max_displacement_mm)
    registrar = make_registrar(method, seq.frames[reference], params=params, backend=backend,
                               device=device, **options)
    spacing = np.asarray(seq.spacing, dtype=np.float32)
    fields_px = np.zeros((n, seq.ndim, *seq.shape), dtype=np.float32)
    times = np.zeros(n)
    capped = np.zeros(n, dtype=np.int64)
    order = [(t, t - 1) for t in range(reference + 1, n)]
    order += [(t, t + 1) for t in range(reference - 1, -1, -1)]
    bar = tqdm(total=len(order), desc=f"registering ({method})", unit="frame",
               disable=not progress)
    try:
        for t, neighbour in order:
            init = fields_px[neighbour] if propagate else None
            start = time.perf_counter()
            flow = registrar.register(seq.frames[t], init)
            if cap is not None:
                flow, capped[t] = cap_displacements(flow, seq.spacing, cap)
            fields_px[t] = flow
            times[t] = time.perf_counter() - start
            bar.update(1)
    finally:
        bar.close()
    fields_mm = np.moveaxis(fields_px, 1, -1) * spacing
    extra: dict[str, Any] = {"method": method, "propagate": bool(propagate),
                             "frame_time_s": times.tolist(), "max_displacement_mm": cap,
                             "capped_voxels": capped.tolist()}
    if method == "lk":
        extra["lk_params"] = (params or LKParams()).as_dict()
        extra["backend"] = backend
    elif options:
        extra["options"] = dict(options)
    prov = Provenance(source=seq.provenance.source, spacing_source=seq.provenance.spacing_source,
                      frame_period_source=seq.provenance.frame_period_source,
                      extra={"registration": extra})
    return DisplacementFieldSeries(fields_mm, seq.spacing, seq.times, reference_index=reference,
                                   origin=seq.origin, direction=seq.direction, provenance=prov)
