"""External-marker phantom: shapes, determinism, gains, noise, correlation with the signal."""

from __future__ import annotations

import json

import numpy as np
import pytest

from motionpredict.errors import ConfigurationError
from motionpredict.phantom import MarkerParams, PhantomMarkers, make_markers


@pytest.fixture(scope="module")
def markers() -> PhantomMarkers:
    return make_markers(seed=4)


def test_shapes_names_times(markers: PhantomMarkers) -> None:
    seq = markers.sequence
    assert seq.positions.shape == (1200, 3, 3)
    assert seq.names == ("LAC", "UAC", "UCC")
    np.testing.assert_allclose(seq.times, 0.1 * np.arange(1200), atol=1e-12)
    assert markers.tumour.positions.shape == (1200, 1, 3)
    assert markers.signal.signal.shape == (1200,)
    assert seq.provenance.source == "phantom" and seq.provenance.frame_period_source == "phantom"
    short = make_markers(seed=4, duration_s=30.0, rate_hz=30.0)
    assert short.sequence.positions.shape == (900, 3, 3)


def test_determinism_and_replay(markers: PhantomMarkers) -> None:
    again = make_markers(seed=4)
    assert again.sequence.positions.tobytes() == markers.sequence.positions.tobytes()
    params = MarkerParams.from_dict(json.loads(json.dumps(markers.params.to_dict())))
    assert params == markers.params
    replay = make_markers(params=params)
    assert replay.sequence.positions.tobytes() == markers.sequence.positions.tobytes()
    other = make_markers(seed=5)
    assert np.abs(other.sequence.positions - markers.sequence.positions).max() > 1.0


def test_markers_follow_signal_with_their_gains(markers: PhantomMarkers) -> None:
    z = markers.sequence.positions[:, :, 2]  # SI axis
    for m in range(3):
        assert np.corrcoef(z[:, m], markers.signal.signal)[0, 1] > 0.9
    ptp = np.ptp(markers.sequence.positions, axis=0)  # (3 markers, 3 axes)
    assert ptp[0, 2] > ptp[2, 2]  # lower abdomen moves more than upper chest
    assert np.all(ptp[:, 1] < ptp[:, 2])  # little motion along y
    gains = np.asarray(markers.params.gains)
    exc = markers.signal.excursion_mm
    disp = np.linalg.norm(
        markers.sequence.positions - np.asarray(markers.params.rest_mm)[None], axis=2
    )
    slope = np.array([np.polyfit(exc, disp[:, m], 1)[0] for m in range(3)])
    np.testing.assert_allclose(slope, gains, rtol=0.1)
    tumour_z = markers.tumour.positions[:, 0, 2]
    assert np.corrcoef(tumour_z, z[:, 0])[0, 1] > 0.9


def test_noise_level(markers: PhantomMarkers) -> None:
    quiet = make_markers(seed=4, noise_mm=0.0)
    noise = markers.sequence.positions - quiet.sequence.positions
    assert abs(noise.std() / 0.1 - 1.0) < 0.05
    assert abs(noise.mean()) < 0.01
    assert quiet.sequence.positions[:, 0, 0].std() > 0.5  # the motion itself is not noise


def test_bad_options_raise() -> None:
    with pytest.raises(ConfigurationError, match="rate_hz"):
        make_markers(rate_hz=0.0)
    with pytest.raises(ConfigurationError, match="duration_s"):
        make_markers(duration_s=-1.0)
    with pytest.raises(ConfigurationError, match="noise_mm"):
        make_markers(noise_mm=-0.1)
