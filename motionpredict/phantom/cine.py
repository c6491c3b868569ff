"""2D sagittal cine-MRI-like breathing phantom with exact displacement fields.

Geometry (array-axis order): rows run superior -> inferior (row 0 = head end), columns run
anterior -> posterior (column 0 = front of the patient). Position of pixel ``(i, j)`` is
``(i * spacing[0], j * spacing[1])`` mm. The anatomy is laid out in fractions of the field of view
(so any shape and spacing show the whole torso); motion amplitudes are in mm.

Anatomy (bSSFP-like contrast, intensities 0..1): body outline with subcutaneous fat, muscle, spine
(vertebrae, discs, CSF), one lung above a curved diaphragm dome, liver below it with a smooth
texture, vessels in the lung, a heart (myocardium and blood pool) on the diaphragm, a tumour in the
lower lung. Rician noise is added per frame (magnitude of complex Gaussian noise).

Motion: ``u_t(x) = e(t) B(x) + c(t) C(x)`` (mm) with

* ``e(t)`` the diaphragm's SI excursion (mm) from :mod:`motionpredict.phantom.breathing`;
* ``B`` = (SI, AP) breathing field per mm of excursion: SI part 1 at and below the dome, decaying
  as ``exp(-distance above the dome / L)`` upwards, tapered to 0 towards the spine and outside the
  anterior body wall; a smaller AP part (``-ap_ratio``, anterior at inhale) largest anteriorly;
* ``C`` = cardiac contraction towards the heart centre (unit maximum, Gaussian fall-off) with
  ``c(t) = a_c (k(t) - k(0))``, ``k(t) = (1 - cos(2 pi f_c t + phi)) / 2`` at ``f_c`` about 1 Hz.

Both weights are 0 at ``t = 0``: frame 0 is the reference and ``u_0 = 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from motionpredict.errors import ConfigurationError
from motionpredict.phantom.breathing import (
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

# Fixed layout, fractions of the field of view (rows = SI, cols = AP).
_HILUM = (0.36, 0.47)
_LUNG = ((0.36, 0.44), (0.34, 0.235))
_LIVER = ((0.80, 0.42), (0.45, 0.27))
_HEART = ((0.46, 0.27), (0.09, 0.10))
_SPINE_COLS = (0.70, 0.80)
_CANAL_COLS = (0.815, 0.845)
_POSTERIOR_SKIN = 0.92
_DOME_CENTRE_COL = 0.44

# Intensities (bSSFP-like, 0..1).
_LEVELS = {
    "fat": 0.72,
    "muscle": 0.30,
    "disc": 0.55,
    "vertebra": 0.38,
    "csf": 0.85,
    "liver": 0.45,
    "lung": 0.06,
    "myocardium": 0.33,
    "blood": 0.85,
    "vessel": 0.70,
    "tumour": 0.60,
}


@dataclass(frozen=True)
class CineAnatomy(Record):
    """Drawn anatomy of the cine phantom (positions as fractions of the field of view).

    Attributes
    ----------
    dome_level, dome_curvature
        Diaphragm dome: top at row fraction ``dome_level``; it drops by ``dome_curvature`` (FOV
        fraction) 0.25 FOV anterior and posterior of its top.
    tumour_centre
        ``(row, col)`` fractions of the tumour centre (reference frame).
    tumour_radii_mm
        ``(SI, AP)`` semi-axes in mm.
    vessels
        Rows ``(row0, col0, row1, col1, radius_mm)``: vessel segments in the lung.
    texture
        Rows ``(k_row, k_col, phase, amplitude)`` (rad/mm, rad, intensity): tissue texture.
    """

    dome_level: float
    dome_curvature: float
    tumour_centre: tuple[float, float]
    tumour_radii_mm: tuple[float, float]
    vessels: tuple[tuple[float, ...], ...]
    texture: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class CineMotion(Record):
    """Parameters of the cine phantom's displacement field.

    Attributes
    ----------
    si_decay_mm
        ``L``: SI motion decays as ``exp(-d / L)`` with the distance ``d`` above the dome, mm.
    window_mm
        Width of the tapers that bring the motion to 0 towards the spine and outside the body, mm.
    ap_ratio
        AP displacement per mm of SI excursion (anterior at inhale) in the anterior abdomen.
    cardiac_amplitude_mm, cardiac_frequency_hz, cardiac_phase_rad
        Largest cardiac contraction displacement (mm), heart rate (Hz) and phase (rad).
    """

    si_decay_mm: float
    window_mm: float
    ap_ratio: float
    cardiac_amplitude_mm: float
    cardiac_frequency_hz: float
    cardiac_phase_rad: float


@dataclass(frozen=True)
class CineParams(Record):
    """Everything drawn for one cine phantom; ``make_cine(params=...)`` replays it bit for bit.

    Attributes
    ----------
    shape
        ``(rows, cols)``.
    spacing_mm
        ``(row, col)`` pixel spacing, mm.
    n_frames
        Number of frames.
    frame_period_s
        Time between frames, s.
    noise_sigma
        Rician noise standard deviation per channel (intensity units, tissue levels are 0..1).
    noise_seed
        Seed of the noise generator.
    breathing, anatomy, motion
        Nested records.
    """

    shape: tuple[int, int]
    spacing_mm: tuple[float, float]
    n_frames: int
    frame_period_s: float
    noise_sigma: float
    noise_seed: int
    breathing: BreathingParams
    anatomy: CineAnatomy
    motion: CineMotion


@dataclass(eq=False)
class PhantomCine:
    """A generated cine phantom with its ground truth.

    Attributes
    ----------
    sequence
        ``(T, rows, cols)`` frames (intensities 0..1), spacing and times (``k * frame_period_s``).
    true_fields
        ``(T, rows, cols, 2)`` exact displacements in mm: ``I_0(x) = I_t(x + u_t(x))`` (before
        noise).
    tumour
        Tumour centroid, ``(T, 1, 3)`` mm in array-axis order ``(row mm, col mm, 0)``.
    tumour_mask
        ``(rows, cols)`` bool, the tumour on the reference frame (frame 0).
    signal
        The breathing signal at the frame times.
    params
        Everything drawn (JSON-able with ``params.to_dict()``).
    """

    sequence: ImageSequence
    true_fields: DisplacementFieldSeries
    tumour: PointTrajectories
    tumour_mask: np.ndarray
    signal: BreathingSignal
    params: CineParams


class _CineModel:
    """Applies :class:`CineParams`: analytic anatomy and the motion basis, positions in mm."""

    def __init__(self, params: CineParams) -> None:
        self.p = params
        self.fov = np.asarray(params.shape, dtype=np.float64) * np.asarray(params.spacing_mm)
        self.edge = 0.5 * min(params.spacing_mm)
        a = params.anatomy
        h, w = self.fov
        self.vessels = np.array(
            [(r0 * h, c0 * w, r1 * h, c1 * w, rad) for r0, c0, r1, c1, rad in a.vessels]
        ).reshape(-1, 5)
        self.texture = np.asarray(a.texture, dtype=np.float64).reshape(-1, 4)
        self.heart_centre = np.array(_HEART[0]) * self.fov
        self.heart_radius = float(np.mean(np.array(_HEART[1]) * self.fov))

    # ------------------------------------------------------------------ geometry
    def dome_row_mm(self, col_mm: np.ndarray) -> np.ndarray:
        """SI position (mm) of the diaphragm dome at AP position ``col_mm``."""
        h, w = self.fov
        a = self.p.anatomy
        return h * (a.dome_level + a.dome_curvature * ((col_mm / w - _DOME_CENTRE_COL) / 0.25) ** 2)

    def _ellipse(self, pts: np.ndarray, spec: tuple[tuple[float, float], ...]) -> np.ndarray:
        return ellipsoid_distance(pts, np.array(spec[0]) * self.fov, np.array(spec[1]) * self.fov)

    def lung_distance(self, pts: np.ndarray) -> np.ndarray:
        return np.maximum(self._ellipse(pts, _LUNG), pts[:, 0] - self.dome_row_mm(pts[:, 1]))

    def tumour_soft(self, pts: np.ndarray) -> np.ndarray:
        """Soft tumour indicator (0..1) at reference positions ``pts`` (N, 2) mm."""
        a = self.p.anatomy
        centre = np.array(a.tumour_centre) * self.fov
        return soft_inside(ellipsoid_distance(pts, centre, np.array(a.tumour_radii_mm)), self.edge)

    def intensity(self, pts: np.ndarray) -> np.ndarray:
        """Noise-free reference intensity at positions ``pts`` (N, 2) mm."""
        h, w = self.fov
        s, c = pts[:, 0], pts[:, 1]
        e = self.edge
        lv = _LEVELS
        anterior = w * (0.12 - 0.04 * np.exp(-((((s / h) - 0.85) / 0.15) ** 2)))
        body_d = np.maximum(anterior - c, c - _POSTERIOR_SKIN * w)
        body = soft_inside(body_d, e)
        img = lv["fat"] * body
        img = paint(img, lv["muscle"], soft_inside(body_d + 8.0, e))
        spine_d = np.maximum(_SPINE_COLS[0] * w - c, c - _SPINE_COLS[1] * w)
        img = paint(img, lv["disc"], soft_inside(spine_d, e))
        period = 0.11 * h
        centre_col = 0.5 * (_SPINE_COLS[0] + _SPINE_COLS[1]) * w
        half_w = 0.5 * (_SPINE_COLS[1] - _SPINE_COLS[0]) * w
        k = np.round(s / period - 0.5)
        vert_d = np.maximum(
            np.abs(s - (k + 0.5) * period) - (0.5 * period - 3.0), np.abs(c - centre_col) - half_w
        )
        img = paint(img, lv["vertebra"], soft_inside(vert_d, e))
        canal_d = np.maximum(_CANAL_COLS[0] * w - c, c - _CANAL_COLS[1] * w)
        img = paint(img, lv["csf"], soft_inside(canal_d, e))
        liver_d = np.maximum(self.dome_row_mm(c) + 3.0 - s, self._ellipse(pts, _LIVER))
        liver = soft_inside(liver_d, e)
        img = paint(img, lv["liver"], liver)
        lung = soft_inside(self.lung_distance(pts), e)
        img = paint(img, lv["lung"], lung)
        img = paint(img, lv["vessel"], lung * tube_mask(pts, self.vessels, e))
        heart_d = self._ellipse(pts, _HEART)
        img = paint(img, lv["myocardium"], soft_inside(heart_d, e))
        img = paint(img, lv["blood"], soft_inside(heart_d + 7.0, e))
        img = paint(img, lv["tumour"], self.tumour_soft(pts))
        img = img + body * fourier_texture(pts, self.texture)
        return np.clip(img, 0.0, None)

    # ------------------------------------------------------------------ motion
    def basis(self, pts: np.ndarray) -> np.ndarray:
        """``(2, N, 2)``: breathing field per mm of excursion, cardiac field per mm (unit max)."""
        h, w = self.fov
        m = self.p.motion
        s, c = pts[:, 0], pts[:, 1]
        corner = 8.0
        s_rel = s - self.dome_row_mm(c)
        prof = np.exp(-corner * np.logaddexp(0.0, -s_rel / corner) / m.si_decay_mm)
        window = expit((c - 0.08 * w) / m.window_mm) * expit((0.64 * w - c) / m.window_mm)
        prof_ap = np.exp(
            -corner * np.logaddexp(0.0, -(s - 0.4 * h) / corner) / (1.5 * m.si_decay_mm)
        )
        ap_taper = expit((0.5 * w - c) / (0.15 * w))
        out = np.empty((2, pts.shape[0], 2))
        out[0, :, 0] = prof * window
        out[0, :, 1] = -m.ap_ratio * prof_ap * ap_taper * window
        rel = (pts - self.heart_centre) / self.heart_radius
        g = np.exp(0.5 - 0.5 * np.sum(rel * rel, axis=1))
        out[1] = -rel * g[:, None]
        return out

    def weights(self, times: np.ndarray) -> np.ndarray:
        """``(T, 2)`` basis weights: excursion (mm) and cardiac contraction (mm), 0 at t = 0."""
        m = self.p.motion
        exc = self.p.breathing.excursion_mm(times) - self.p.breathing.excursion_mm(np.zeros(1))
        kappa = 0.5 * (
            1.0 - np.cos(2.0 * np.pi * m.cardiac_frequency_hz * times + m.cardiac_phase_rad)
        )
        kappa0 = 0.5 * (1.0 - math.cos(m.cardiac_phase_rad))
        return np.column_stack([exc, m.cardiac_amplitude_mm * (kappa - kappa0)])


def draw_cine_params(
    *,
    seed: int = 0,
    n_frames: int = 120,
    frame_period_s: float = 0.25,
    shape: tuple[int, int] = (128, 128),
    spacing_mm: tuple[float, float] = (2.0, 2.0),
    amplitude_mm: float | None = None,
    mean_period_s: float | None = None,
    irregularity: float = 1.0,
    cardiac_amplitude_mm: float | None = None,
    noise_sigma: float = 0.02,
) -> CineParams:
    """Draw every random quantity of a cine phantom (see :func:`make_cine` for the parameters)."""
    shape, spacing_mm = grid_record(shape, spacing_mm, 2)  # type: ignore[assignment]
    if int(n_frames) < 1:
        raise ConfigurationError(f"n_frames must be at least 1, got {n_frames}")
    if not (np.isfinite(frame_period_s) and frame_period_s > 0):
        raise ConfigurationError(f"frame_period_s must be positive, got {frame_period_s} s")
    if not (np.isfinite(noise_sigma) and noise_sigma >= 0):
        raise ConfigurationError(f"noise_sigma must be >= 0, got {noise_sigma}")
    rng_b, rng_a, rng_m, rng_n = seed_streams(seed, 4)
    times = sample_times(int(n_frames), frame_period_s)
    breathing = draw_breathing_params(
        duration_s=max(float(times[-1]), frame_period_s),
        seed=rng_b,
        amplitude_mm=amplitude_mm,
        mean_period_s=mean_period_s,
        irregularity=irregularity,
    )
    fov = np.asarray(shape) * np.asarray(spacing_mm)

    # Anatomy.
    dome_level = float(rng_a.uniform(0.50, 0.56))
    dome_curv = float(rng_a.uniform(0.08, 0.12))
    radius = float(rng_a.uniform(7.0, 12.0))
    radii = (radius * float(rng_a.uniform(0.85, 1.15)), radius)
    t_col = float(rng_a.uniform(0.45, 0.60))
    dome_at = dome_level + dome_curv * ((t_col - _DOME_CENTRE_COL) / 0.25) ** 2
    t_row = dome_at - (radii[0] + 10.0) / fov[0] - float(rng_a.uniform(0.0, 0.08))
    lung_c, lung_r = np.array(_LUNG[0]), 0.9 * np.array(_LUNG[1])
    vessels: list[tuple[float, ...]] = []
    for _ in range(6):
        angle, length, rad = (
            rng_a.uniform(0, 2 * np.pi),
            rng_a.uniform(0.12, 0.25),
            rng_a.uniform(1.2, 2.5),
        )
        turn, sub_rad = rng_a.choice([-1.0, 1.0]) * rng_a.uniform(0.3, 0.8), rng_a.uniform(0.6, 0.8)
        start = np.array(_HILUM)
        end = start + length * np.array([np.sin(angle), np.cos(angle)])
        q = np.linalg.norm((end - lung_c) / lung_r)
        if q > 1.0:  # keep the vessel inside the lung
            end = lung_c + (end - lung_c) / q
        mid = 0.5 * (start + end)
        branch = mid + 0.5 * length * np.array([np.sin(angle + turn), np.cos(angle + turn)])
        q = np.linalg.norm((branch - lung_c) / lung_r)
        if q > 1.0:
            branch = lung_c + (branch - lung_c) / q
        vessels.append((*map(float, start), *map(float, end), float(rad)))
        vessels.append((*map(float, mid), *map(float, branch), float(rad * sub_rad)))
    texture = draw_texture_modes(rng_a, ndim=2, n_modes=16, wavelength_mm=(6.0, 30.0), rms=0.03)
    anatomy = CineAnatomy(
        dome_level=dome_level,
        dome_curvature=dome_curv,
        tumour_centre=(float(t_row), t_col),
        tumour_radii_mm=(float(radii[0]), float(radii[1])),
        vessels=tuple(vessels),
        texture=texture_record(texture),
    )

    # Motion: lengths chosen from the largest excursion so the field stays invertible.
    largest = largest_excursion(breathing, times)
    draws = rng_m.uniform(size=4)
    a_c = 1.5 + 1.5 * draws[1] if cardiac_amplitude_mm is None else float(cardiac_amplitude_mm)
    if not (np.isfinite(a_c) and 0 <= a_c <= 10):
        raise ConfigurationError(f"cardiac_amplitude_mm must be within 0-10 mm, got {a_c}")
    motion = CineMotion(
        si_decay_mm=max(0.22 * fov[0], 2.5 * largest),
        window_mm=max(0.05 * fov[1], 0.8 * largest),
        ap_ratio=float(0.15 + 0.15 * draws[0]),
        cardiac_amplitude_mm=float(a_c),
        cardiac_frequency_hz=float(0.9 + 0.4 * draws[2]),
        cardiac_phase_rad=float(2 * np.pi * draws[3]),
    )
    return CineParams(
        shape=shape,
        spacing_mm=spacing_mm,
        n_frames=int(n_frames),
        frame_period_s=float(frame_period_s),
        noise_sigma=float(noise_sigma),
        noise_seed=int(rng_n.integers(2**63 - 1)),
        breathing=breathing,
        anatomy=anatomy,
        motion=motion,
    )


def make_cine(
    *,
    seed: int = 0,
    n_frames: int = 120,
    frame_period_s: float = 0.25,
    shape: tuple[int, int] = (128, 128),
    spacing_mm: tuple[float, float] = (2.0, 2.0),
    amplitude_mm: float | None = None,
    mean_period_s: float | None = None,
    irregularity: float = 1.0,
    cardiac_amplitude_mm: float | None = None,
    noise_sigma: float = 0.02,
    params: CineParams | None = None,
) -> PhantomCine:
    """Generate a 2D sagittal cine-MRI-like breathing phantom with exact ground truth.

    Parameters
    ----------
    seed
        Seed of every random draw; the same seed gives bit-identical output.
    n_frames
        Number of frames ``T``.
    frame_period_s
        Time between frames, s; frame ``k`` is at ``k * frame_period_s``.
    shape
        ``(rows, cols)``; rows are superior -> inferior, columns anterior -> posterior.
    spacing_mm
        ``(row, col)`` pixel spacing, mm.
    amplitude_mm, mean_period_s, irregularity
        Breathing: nominal peak-to-peak SI amplitude at the diaphragm (5-30 mm; drawn in 8-20
        when ``None``), mean period (3-6 s; drawn in 3.5-5 when ``None``), drift scale (0-3).
    cardiac_amplitude_mm
        Largest cardiac displacement, mm (drawn in 1.5-3 when ``None``; 0 switches it off).
    noise_sigma
        Rician noise level (per-channel standard deviation, tissue intensities are 0..1).
    params
        A record from an earlier run (``result.params`` or ``CineParams.from_dict``): replayed
        exactly, and all other options are ignored.

    Returns
    -------
    PhantomCine
        Frames, exact fields (mm), tumour centroid (mm), tumour mask, signal, params.
    """
    if params is None:
        params = draw_cine_params(
            seed=seed,
            n_frames=n_frames,
            frame_period_s=frame_period_s,
            shape=shape,
            spacing_mm=spacing_mm,
            amplitude_mm=amplitude_mm,
            mean_period_s=mean_period_s,
            irregularity=irregularity,
            cardiac_amplitude_mm=cardiac_amplitude_mm,
            noise_sigma=noise_sigma,
        )
    model = _CineModel(params)
    shape2 = tuple(params.shape)
    times = sample_times(params.n_frames, params.frame_period_s)
    weights = model.weights(times)
    grid = grid_points(shape2, params.spacing_mm)
    check_invertible("cine phantom", model.basis, weights, grid[::7], model.fov)

    frames, fields = render_moving(
        model.intensity, model.basis, weights, shape2, params.spacing_mm, fine=2
    )
    if params.noise_sigma > 0:
        rng = np.random.default_rng(params.noise_seed)
        noise = rng.standard_normal((2, *frames.shape)) * params.noise_sigma
        frames = np.sqrt((frames + noise[0]) ** 2 + noise[1] ** 2)
    frames = np.clip(frames, 0.0, 1.0)

    # Tumour: mask on the reference grid and centroid of the carried tumour.
    tumour_mask = (model.tumour_soft(grid) > 0.5).reshape(shape2)
    sub = tumour_sample_points(
        params.anatomy.tumour_centre,
        params.anatomy.tumour_radii_mm,
        model.fov,
        model.edge,
        min(params.spacing_mm) / 4.0,
    )
    centroid = deformed_centroid(model.basis, weights, sub, model.tumour_soft(sub))
    positions = np.zeros((len(times), 1, 3))
    positions[:, 0, :2] = centroid

    extra = {
        "phantom": params.to_dict(),
        "kind": "cine",
        "axes": "rows SI (down = inferior), cols AP (right = posterior)",
    }
    sequence = phantom_sequence(frames, params.spacing_mm, times, (0.0, 1.0), extra)
    true_fields = true_field_series(fields, params.spacing_mm, times)
    tumour = tumour_trajectory(
        positions, times, "array-axis order (row mm, col mm, 0), grid origin at pixel (0, 0)"
    )
    signal = sampled_signal(params.breathing, times)
    return PhantomCine(
        sequence=sequence,
        true_fields=true_fields,
        tumour=tumour,
        tumour_mask=tumour_mask,
        signal=signal,
        params=params,
    )
