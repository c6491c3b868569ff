"""3D CT-like breathing phantom (4DCT-style phases) with exact displacement fields.

Geometry (array-axis order): slices run superior -> inferior (slice 0 = head end), rows anterior ->
posterior, columns patient right -> patient left (radiological display). Voxel ``(k, i, j)`` sits at
``(k, i, j) * spacing`` mm. The anatomy is laid out in fractions of the field of view; motion is in
mm.

Anatomy in Hounsfield-like units: air -1000, lungs -820 with soft-tissue vessels, soft tissue 40,
subcutaneous fat -100, liver 60, tumour 30, bone 700 (ribs, vertebral bodies; discs 80). A smooth
texture (about 10 HU rms) is added to the body and Gaussian noise (15 HU by default) to every phase.

Motion: ``u_t(x) = e(t) B(x)`` with ``e(t)`` the diaphragm excursion (mm) and ``B`` per mm of
excursion: SI part 1 at and below the two-lobed diaphragm dome, decaying as ``exp(-d / L)`` above
it; AP part (``-ap_ratio``, anterior at inhale) largest anteriorly; a small lateral expansion
(``lateral_ratio``). Every component is tapered to 0 towards the rib cage and the spine, so the ribs
and spine stay (almost) static while the diaphragm and liver move. ``e(0) = 0``: phase 0 is the
end-exhale reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from motionpredict.errors import ConfigurationError
from motionpredict.phantom.breathing import (
    PERIOD_RANGE_S,
    BreathingParams,
    BreathingSignal,
    draw_breathing_params,
    sample_times,
)
from motionpredict.phantom.fields import deformed_centroid, grid_points, render_moving
from motionpredict.phantom.records import Record, seed_streams
from motionpredict.phantom.shapes import (
    draw_texture_modes,
    ellipsoid_distance,
    fourier_texture,
    paint,
    soft_inside,
    tube_mask,
)
from motionpredict.phantom.truth import (
    check_invertible,
    grid_record,
    largest_excursion,
    phantom_sequence,
    sampled_signal,
    texture_record,
    true_field_series,
    tumour_sample_points,
    tumour_trajectory,
)
from motionpredict.sequences import DisplacementFieldSeries, ImageSequence, PointTrajectories

# Fixed layout, fractions of the field of view (axes: SI, AP, LR).
_BODY = ((0.50, 0.50), (0.40, 0.47))  # (AP, LR) centre and semi-axes of the body cross-section
_LUNG_X = (0.29, 0.71)  # LR centres of the right and left lungs
_LUNG_YX = (0.47, (0.27, 0.17))  # AP centre, (AP, LR) semi-axes
_SPINE = (0.78, 0.50, 0.065)  # AP, LR centre, radius (fraction of the mean in-plane FOV)
_RIB_RING = 0.86  # elliptical radius of the rib centre line (fraction of the body ellipse)
_RIB_PERIOD_MM = 26.0
_DISC_PERIOD_MM = 28.0
_HU = {
    "air": -1000.0,
    "fat": -100.0,
    "soft": 40.0,
    "liver": 60.0,
    "lung": -820.0,
    "vessel": 40.0,
    "tumour": 30.0,
    "bone": 700.0,
    "disc": 80.0,
}


@dataclass(frozen=True)
class CTAnatomy(Record):
    """Drawn anatomy of the CT phantom (positions as fractions of the field of view).

    Attributes
    ----------
    dome_level
        SI fraction of the top of the (right) diaphragm dome.
    dome_curvature
        How much the dome drops (FOV fraction) 0.3 FOV anterior/posterior of its top.
    dome_tilt
        Extra drop of the left dome relative to the right one (FOV fraction).
    tumour_centre
        ``(SI, AP, LR)`` fractions of the tumour centre.
    tumour_radii_mm
        Semi-axes in mm.
    vessels
        Rows ``(z0, y0, x0, z1, y1, x1, radius_mm)``: lung vessel segments (fractions, mm).
    texture
        Rows ``(k_z, k_y, k_x, phase, amplitude_hu)`` (rad/mm, rad, HU).
    """

    dome_level: float
    dome_curvature: float
    dome_tilt: float
    tumour_centre: tuple[float, float, float]
    tumour_radii_mm: tuple[float, float, float]
    vessels: tuple[tuple[float, ...], ...]
    texture: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class CTMotion(Record):
    """Parameters of the CT phantom's displacement field.

    Attributes
    ----------
    si_decay_mm
        ``L``: SI motion decays as ``exp(-d / L)`` with the distance ``d`` above the dome, mm.
    window_mm
        Width of the tapers that bring the motion to 0 at the rib cage and the spine, mm.
    window_radius
        Elliptical radius (1 = skin) at which the in-plane taper is 0.5; chosen so that the taper
        is about 0.05 on the ribs whenever the excursion allows it (an invertible field needs a
        taper at least 0.6 times as wide as the largest excursion).
    ap_ratio, lateral_ratio
        AP (anterior at inhale) and lateral displacement per mm of SI excursion.
    """

    si_decay_mm: float
    window_mm: float
    window_radius: float
    ap_ratio: float
    lateral_ratio: float


@dataclass(frozen=True)
class CTParams(Record):
    """Everything drawn for one CT phantom; ``make_ct4d(params=...)`` replays it bit for bit.

    Attributes
    ----------
    shape
        ``(slices, rows, cols)``.
    spacing_mm
        ``(slice, row, col)`` voxel spacing, mm.
    n_phases
        Number of volumes.
    frame_period_s
        Time between volumes, s; ``None``: the volumes sample the first breathing cycle evenly
        (from end-exhale to the next inhalation onset), like the phases of a 4DCT.
    noise_hu
        Standard deviation of the Gaussian noise, HU.
    noise_seed
        Seed of the noise generator.
    breathing, anatomy, motion
        Nested records.
    """

    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    n_phases: int
    frame_period_s: float | None
    noise_hu: float
    noise_seed: int
    breathing: BreathingParams
    anatomy: CTAnatomy
    motion: CTMotion

    def times(self) -> np.ndarray:
        """``(n_phases,)`` acquisition times of the volumes, s (phase 0 at 0 s = end-exhale)."""
        return _volume_times(self.breathing, self.n_phases, self.frame_period_s)


@dataclass(eq=False)
class PhantomCT:
    """A generated CT phantom with its ground truth.

    Attributes
    ----------
    sequence
        ``(T, slices, rows, cols)`` volumes in HU, spacing and times.
    true_fields
        ``(T, slices, rows, cols, 3)`` exact displacements in mm, ``I_0(x) = I_t(x + u_t(x))``.
    tumour
        Tumour centroid, ``(T, 1, 3)`` mm in array-axis order ``(SI, AP, LR)``.
    tumour_mask
        ``(slices, rows, cols)`` bool, the tumour in the reference volume (phase 0).
    signal
        The breathing signal at the volume times.
    params
        Everything drawn (JSON-able with ``params.to_dict()``).
    """

    sequence: ImageSequence
    true_fields: DisplacementFieldSeries
    tumour: PointTrajectories
    tumour_mask: np.ndarray
    signal: BreathingSignal
    params: CTParams


def _dome_mm(anatomy: CTAnatomy, fov: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """SI position (mm) of the two-lobed diaphragm dome at AP ``y`` and LR ``x`` (mm)."""
    zf, yf, xf = fov
    side = np.sqrt((x / xf - 0.5) ** 2 + 0.05**2) - 0.21  # 0 under each lung's centre
    return zf * (
        anatomy.dome_level
        + anatomy.dome_curvature * ((y / yf - 0.45) / 0.3) ** 2
        + 0.6 * anatomy.dome_curvature * (side / 0.2) ** 2
        + anatomy.dome_tilt * expit((x / xf - 0.5) / 0.05)
    )


def _volume_times(
    breathing: BreathingParams, n_phases: int, frame_period_s: float | None
) -> np.ndarray:
    if frame_period_s is not None:
        return sample_times(n_phases, frame_period_s)
    onsets = breathing.inhale_onsets_s()
    if len(onsets) < 2:
        raise ConfigurationError("CT phantom: the breathing record covers less than one cycle")
    return sample_times(n_phases, float(onsets[1]) / n_phases)


class _CTModel:
    """Applies :class:`CTParams`: analytic anatomy and motion basis, positions in mm."""

    def __init__(self, params: CTParams) -> None:
        self.p = params
        self.fov = np.asarray(params.shape, dtype=np.float64) * np.asarray(params.spacing_mm)
        self.edge = 0.6 * max(params.spacing_mm)
        self.vessels = np.array(
            [
                (*(np.array(v[:3]) * self.fov), *(np.array(v[3:6]) * self.fov), v[6])
                for v in params.anatomy.vessels
            ]
        ).reshape(-1, 7)
        self.texture = np.asarray(params.anatomy.texture, dtype=np.float64).reshape(-1, 5)
        self.mean_inplane = float(np.mean(self.fov[1:]))

    def dome_mm(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """SI position (mm) of the diaphragm at AP ``y`` and LR ``x`` (mm)."""
        return _dome_mm(self.p.anatomy, self.fov, y, x)

    def body_radius(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Elliptical radius of the body cross-section (1 on the skin)."""
        (cy, cx), (ry, rx) = _BODY
        return np.sqrt(((y / self.fov[1] - cy) / ry) ** 2 + ((x / self.fov[2] - cx) / rx) ** 2)

    def lung_distance(self, pts: np.ndarray) -> np.ndarray:
        cy, (ry, rx) = _LUNG_YX
        yx = pts[:, 1:]
        d = np.full(pts.shape[0], np.inf)
        for cx in _LUNG_X:
            centre = np.array([cy, cx]) * self.fov[1:]
            d = np.minimum(d, ellipsoid_distance(yx, centre, np.array([ry, rx]) * self.fov[1:]))
        return np.maximum(d, pts[:, 0] - self.dome_mm(pts[:, 1], pts[:, 2]))

    def tumour_soft(self, pts: np.ndarray) -> np.ndarray:
        """Soft tumour indicator (0..1) at reference positions ``pts`` (N, 3) mm."""
        a = self.p.anatomy
        centre = np.array(a.tumour_centre) * self.fov
        return soft_inside(ellipsoid_distance(pts, centre, np.array(a.tumour_radii_mm)), self.edge)

    def intensity(self, pts: np.ndarray) -> np.ndarray:
        """Noise-free reference HU at positions ``pts`` (N, 3) mm."""
        z, y, x = pts[:, 0], pts[:, 1], pts[:, 2]
        e = self.edge
        hu = _HU
        rho = self.body_radius(y, x)
        scale = self.mean_inplane * float(np.mean(_BODY[1]))  # mm per unit elliptical radius
        body_d = (rho - 1.0) * scale
        body = soft_inside(body_d, e)
        img = hu["air"] + body * (hu["fat"] - hu["air"])
        img = paint(img, hu["soft"], soft_inside(body_d + 8.0, e))
        dome = self.dome_mm(y, x)
        liver = soft_inside(np.maximum(dome + 3.0 - z, body_d + 14.0), e)
        right = expit((0.62 * self.fov[2] - x) / 4.0)
        img = paint(img, hu["liver"], liver * right)
        lung = soft_inside(self.lung_distance(pts), e)
        img = paint(img, hu["lung"], lung)
        img = paint(img, hu["vessel"], lung * tube_mask(pts, self.vessels, e))
        img = paint(img, hu["tumour"], self.tumour_soft(pts))
        # Ribs: tubes on the ring rho = _RIB_RING, sloping down anteriorly, every _RIB_PERIOD_MM.
        along = z - 0.35 * (0.8 * self.fov[1] - y)
        along = along - _RIB_PERIOD_MM * np.round(along / _RIB_PERIOD_MM)
        rib_d = np.hypot((rho - _RIB_RING) * scale, along) - 5.0
        img = paint(img, hu["bone"], soft_inside(rib_d, e))
        # Spine: vertebral bodies with discs.
        sy, sx, sr = _SPINE
        radial = np.hypot(y - sy * self.fov[1], x - sx * self.fov[2]) - sr * self.mean_inplane
        img = paint(img, hu["disc"], soft_inside(radial, e))
        level = z - _DISC_PERIOD_MM * np.round(z / _DISC_PERIOD_MM)
        vert_d = np.maximum(radial, 4.0 - np.abs(level))
        img = paint(img, hu["bone"], soft_inside(vert_d, e))
        return img + body * fourier_texture(pts, self.texture)

    def basis(self, pts: np.ndarray) -> np.ndarray:
        """``(1, N, 3)`` breathing displacement per mm of diaphragm excursion."""
        m = self.p.motion
        z, y, x = pts[:, 0], pts[:, 1], pts[:, 2]
        _, yf, xf = self.fov
        corner = 8.0
        z_rel = z - self.dome_mm(y, x)
        prof = np.exp(-corner * np.logaddexp(0.0, -z_rel / corner) / m.si_decay_mm)
        scale = self.mean_inplane * float(np.mean(_BODY[1]))
        rho = self.body_radius(y, x)
        window = expit((m.window_radius - rho) * scale / m.window_mm)
        window = window * expit((0.66 * yf - y) / m.window_mm)
        out = np.empty((1, pts.shape[0], 3))
        out[0, :, 0] = prof * window
        out[0, :, 1] = -m.ap_ratio * prof * window * expit((0.55 * yf - y) / (0.15 * yf))
        out[0, :, 2] = m.lateral_ratio * prof * window * (x / xf - 0.5) / 0.25
        return out


def draw_ct_params(
    *,
    seed: int = 0,
    n_phases: int = 10,
    shape: tuple[int, int, int] = (40, 64, 64),
    spacing_mm: tuple[float, float, float] = (2.5, 2.0, 2.0),
    frame_period_s: float | None = None,
    amplitude_mm: float | None = None,
    mean_period_s: float | None = None,
    irregularity: float = 1.0,
    noise_hu: float = 15.0,
) -> CTParams:
    """Draw every random quantity of a CT phantom (see :func:`make_ct4d` for the parameters)."""
    shape, spacing_mm = grid_record(shape, spacing_mm, 3)  # type: ignore[assignment]
    if int(n_phases) < 1:
        raise ConfigurationError(f"n_phases must be at least 1, got {n_phases}")
    if frame_period_s is not None and not (np.isfinite(frame_period_s) and frame_period_s > 0):
        raise ConfigurationError(f"frame_period_s must be positive, got {frame_period_s} s")
    if not (np.isfinite(noise_hu) and noise_hu >= 0):
        raise ConfigurationError(f"noise_hu must be >= 0, got {noise_hu}")
    rng_b, rng_a, rng_m, rng_n = seed_streams(seed, 4)
    drawn_amplitude = float(rng_m.uniform(6.0, 12.0))  # small FOV: moderate default breathing
    amplitude_mm = drawn_amplitude if amplitude_mm is None else amplitude_mm
    if frame_period_s is None:
        duration = 2.0 * PERIOD_RANGE_S[1]  # covers the first full cycle whatever is drawn
    else:
        duration = max(float(sample_times(int(n_phases), frame_period_s)[-1]), frame_period_s)
    breathing = draw_breathing_params(
        duration_s=duration,
        seed=rng_b,
        amplitude_mm=amplitude_mm,
        mean_period_s=mean_period_s,
        irregularity=irregularity,
    )
    fov = np.asarray(shape) * np.asarray(spacing_mm)

    dome_level = float(rng_a.uniform(0.50, 0.60))
    dome_curv = float(rng_a.uniform(0.08, 0.14))
    dome_tilt = float(rng_a.uniform(0.02, 0.06))
    radius = float(rng_a.uniform(6.0, 11.0))
    radii = radius * rng_a.uniform(0.85, 1.15, size=3)
    side = int(rng_a.integers(2))
    # Lower lobe, medial half of the lung (the part that moves most), just above the dome.
    t_x = _LUNG_X[side] + (0.5 - _LUNG_X[side]) * float(rng_a.uniform(0.2, 0.45))
    t_y = float(rng_a.uniform(0.40, 0.56))
    lift = float(rng_a.uniform(0.0, 0.06))
    dome_only = CTAnatomy(dome_level, dome_curv, dome_tilt, (0, 0, 0), (1, 1, 1), (), ())
    dome_at = float(_dome_mm(dome_only, fov, np.array([t_y * fov[1]]), np.array([t_x * fov[2]]))[0])
    t_z = (dome_at - radii[0] - 8.0) / fov[0] - lift
    vessels: list[tuple[float, ...]] = []
    cy, (ry, rx) = _LUNG_YX
    for lung_x in _LUNG_X:
        hilum = np.array([dome_level - 0.25, cy, 0.5 + 0.45 * (lung_x - 0.5)])
        for _ in range(5):
            direction = rng_a.standard_normal(3)
            direction /= np.linalg.norm(direction)
            length, rad = rng_a.uniform(0.15, 0.35), rng_a.uniform(1.2, 2.5)
            end = hilum + length * direction
            q = np.hypot((end[1] - cy) / (0.9 * ry), (end[2] - lung_x) / (0.9 * rx))
            if q > 1.0:  # keep the vessel inside the lung's cross-section
                end[1:] = np.array([cy, lung_x]) + (end[1:] - np.array([cy, lung_x])) / q
            vessels.append((*map(float, hilum), *map(float, end), float(rad)))
    texture = draw_texture_modes(rng_a, ndim=3, n_modes=12, wavelength_mm=(8.0, 40.0), rms=10.0)
    anatomy = CTAnatomy(
        dome_level=dome_level,
        dome_curvature=dome_curv,
        dome_tilt=dome_tilt,
        tumour_centre=(float(t_z), t_y, float(t_x)),
        tumour_radii_mm=tuple(float(r) for r in radii),  # type: ignore[arg-type]
        vessels=tuple(vessels),
        texture=texture_record(texture),
    )
    largest = largest_excursion(breathing, _volume_times(breathing, int(n_phases), frame_period_s))
    draws = rng_m.uniform(size=2)
    window = max(3.0, 0.6 * largest)
    scale = float(np.mean(fov[1:])) * float(np.mean(_BODY[1]))
    motion = CTMotion(
        si_decay_mm=max(0.3 * float(fov[0]), 2.5 * largest),
        window_mm=window,
        window_radius=max(0.35, _RIB_RING - 0.04 - 3.0 * window / scale),
        ap_ratio=float(0.15 + 0.15 * draws[0]),
        lateral_ratio=float(0.03 + 0.07 * draws[1]),
    )
    return CTParams(
        shape=shape,
        spacing_mm=spacing_mm,
        n_phases=int(n_phases),
        frame_period_s=None if frame_period_s is None else float(frame_period_s),
        noise_hu=float(noise_hu),
        noise_seed=int(rng_n.integers(2**63 - 1)),
        breathing=breathing,
        anatomy=anatomy,
        motion=motion,
    )


def make_ct4d(
    *,
    seed: int = 0,
    n_phases: int = 10,
    shape: tuple[int, int, int] = (40, 64, 64),
    spacing_mm: tuple[float, float, float] = (2.5, 2.0, 2.0),
    frame_period_s: float | None = None,
    amplitude_mm: float | None = None,
    mean_period_s: float | None = None,
    irregularity: float = 1.0,
    noise_hu: float = 15.0,
    params: CTParams | None = None,
) -> PhantomCT:
    """Generate a 3D CT-like breathing phantom (4DCT phases or a time series) with ground truth.

    Parameters
    ----------
    seed
        Seed of every random draw; the same seed gives bit-identical output.
    n_phases
        Number of volumes ``T``.
    shape
        ``(slices, rows, cols)``: SI (superior first), AP (anterior first), LR (patient right
        first).
    spacing_mm
        ``(slice, row, col)`` voxel spacing, mm.
    frame_period_s
        ``None`` (default): the volumes are ``n_phases`` phases evenly spread over the first
        breathing cycle, phase 0 = end-exhale. A value in s: a series of volumes at
        ``k * frame_period_s``.
    amplitude_mm
        Nominal peak-to-peak SI amplitude at the diaphragm, mm (5-30); drawn in 6-12 mm when
        ``None`` (the default field of view is small: larger excursions need wider tapers, and
        then the ribs move too).
    mean_period_s, irregularity
        Breathing options, as in :func:`motionpredict.phantom.breathing_signal`.
    noise_hu
        Standard deviation of the Gaussian noise, HU (0 for none).
    params
        A record from an earlier run: replayed exactly; all other options are ignored.

    Returns
    -------
    PhantomCT
        Volumes (HU), exact fields (mm), tumour centroid (mm), tumour mask, signal, params.
    """
    if params is None:
        params = draw_ct_params(
            seed=seed,
            n_phases=n_phases,
            shape=shape,
            spacing_mm=spacing_mm,
            frame_period_s=frame_period_s,
            amplitude_mm=amplitude_mm,
            mean_period_s=mean_period_s,
            irregularity=irregularity,
            noise_hu=noise_hu,
        )
    model = _CTModel(params)
    shape3 = tuple(params.shape)
    times = params.times()
    exc = params.breathing.excursion_mm(times)
    weights = (exc - params.breathing.excursion_mm(np.zeros(1)))[:, None]
    grid = grid_points(shape3, params.spacing_mm)
    check_invertible("CT phantom", model.basis, weights, grid[::13], model.fov)
    frames, fields = render_moving(
        model.intensity, model.basis, weights, shape3, params.spacing_mm, fine=1
    )
    if params.noise_hu > 0:
        rng = np.random.default_rng(params.noise_seed)
        frames = frames + params.noise_hu * rng.standard_normal(frames.shape)

    tumour_mask = (model.tumour_soft(grid) > 0.5).reshape(shape3)
    sub = tumour_sample_points(
        params.anatomy.tumour_centre,
        params.anatomy.tumour_radii_mm,
        model.fov,
        model.edge,
        min(params.spacing_mm) / 2.0,
    )
    mass = model.tumour_soft(sub)
    keep = mass > 1e-4
    centroid = deformed_centroid(model.basis, weights, sub[keep], mass[keep])

    extra = {
        "phantom": params.to_dict(),
        "kind": "ct4d",
        "axes": "slices SI (superior first), rows AP (anterior first), cols LR (right first)",
        "units": "HU",
    }
    sequence = phantom_sequence(frames, params.spacing_mm, times, (-1024.0, 3071.0), extra)
    true_fields = true_field_series(fields, params.spacing_mm, times)
    tumour = tumour_trajectory(
        centroid[:, None, :],
        times,
        "array-axis order (SI, AP, LR) mm, grid origin at voxel (0, 0, 0)",
    )
    signal = sampled_signal(params.breathing, times)
    return PhantomCT(
        sequence=sequence,
        true_fields=true_fields,
        tumour=tumour,
        tumour_mask=tumour_mask,
        signal=signal,
        params=params,
    )
