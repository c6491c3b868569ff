"""Validation of the data model (motionpredict.sequences)."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict import (
    DisplacementFieldSeries,
    ImageSequence,
    MotionPredictError,
    PointTrajectories,
    ValidationError,
)


def _frames(t: int = 4, shape: tuple[int, ...] = (8, 6)) -> np.ndarray:
    return np.random.default_rng(0).random((t, *shape)).astype(np.float64)


def test_image_sequence_valid_2d_and_3d() -> None:
    seq = ImageSequence(_frames(), spacing=(1.5, 2.0), times=np.arange(4) * 0.25)
    assert seq.frames.dtype == np.float32
    assert (seq.n_frames, seq.ndim, seq.shape) == (4, 2, (8, 6))
    assert seq.frame_period == pytest.approx(0.25)
    assert seq.origin == (0.0, 0.0)
    np.testing.assert_array_equal(seq.direction, np.eye(2))
    vol = ImageSequence(_frames(3, (4, 5, 6)), spacing=(2.5, 1, 1), times=[0, 0.4, 0.8])
    assert vol.ndim == 3 and vol.shape == (4, 5, 6)
    sub = vol.subset(slice(1, 3))
    assert sub.n_frames == 2 and sub.times[0] == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frames": np.zeros((4, 8))}, "(T, H, W)"),
        ({"spacing": (1.0,)}, "spacing needs 2"),
        ({"spacing": (1.0, 0.0)}, "positive"),
        ({"spacing": (1.0, np.nan)}, "positive"),
        ({"times": [0, 1, 1, 2]}, "increase strictly"),
        ({"times": [0, 2, 1, 3]}, "increase strictly"),
        ({"times": [0, 1, 2]}, "expected 4 frame times"),
        ({"times": [0, 1, np.inf, 3]}, "NaN or Inf"),
        ({"origin": (0, 0, 0)}, "origin"),
        ({"direction": np.ones((2, 2))}, "orthonormal"),
    ],
)
def test_image_sequence_rejects(kwargs: dict, message: str) -> None:
    args = {"frames": _frames(), "spacing": (1.0, 1.0), "times": np.arange(4.0)}
    args.update(kwargs)
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ImageSequence(**args)


def test_image_sequence_rejects_nan_pixels_and_names_the_frame() -> None:
    frames = _frames()
    frames[2, 1, 1] = np.nan
    with pytest.raises(ValidationError, match="frame 2"):
        ImageSequence(frames, spacing=(1, 1), times=np.arange(4.0))


def test_validation_error_is_a_user_error() -> None:
    assert issubclass(ValidationError, MotionPredictError)


def test_point_trajectories() -> None:
    pos = np.random.default_rng(1).normal(size=(10, 3, 3))
    tr = PointTrajectories(pos, times=np.arange(10) * 0.1, names=("LAC", "UAC", "UCC"))
    assert tr.n_samples == 10 and tr.n_points == 3
    assert tr.sample_period == pytest.approx(0.1)
    series = tr.as_series()
    assert series.shape == (10, 9)
    np.testing.assert_array_equal(series[:, 3:6], pos[:, 1, :])
    with pytest.raises(ValidationError, match=r"\(T, N, 3\)"):
        PointTrajectories(pos[..., :2], times=np.arange(10.0))
    with pytest.raises(ValidationError, match="names"):
        PointTrajectories(pos, times=np.arange(10.0), names=("a",))
    bad = pos.copy()
    bad[7, 0, 0] = np.nan
    with pytest.raises(ValidationError, match="sample 7"):
        PointTrajectories(bad, times=np.arange(10.0))


def test_displacement_field_series() -> None:
    f = np.zeros((3, 8, 6, 2))
    f[..., 0] = 3.0
    ds = DisplacementFieldSeries(f, spacing=(1.5, 1.0), times=[0, 1, 2])
    assert ds.shape == (8, 6) and ds.ndim == 2
    np.testing.assert_allclose(ds.in_pixels()[..., 0], 2.0)
    with pytest.raises(ValidationError, match="fields must be"):
        DisplacementFieldSeries(np.zeros((3, 8, 6, 3)), spacing=(1, 1), times=[0, 1, 2])
    with pytest.raises(ValidationError, match="reference_index"):
        DisplacementFieldSeries(f, spacing=(1, 1), times=[0, 1, 2], reference_index=3)
