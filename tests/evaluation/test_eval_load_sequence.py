"""Loading the sequences of an evaluation configuration: user errors, not crashes."""

from __future__ import annotations

import pytest

from motionpredict.errors import ConfigurationError
from motionpredict.evaluation.batch import load_sequence


def test_marker_sequence_with_a_roi_is_a_configuration_error():
    """Markers have no image grid for a ROI (this was an AttributeError on ``.shape``)."""
    spec = {"phantom": "markers", "seed": 4, "duration_s": 4.0, "rate_hz": 10.0,
            "roi": {"x": [1, 2], "y": [1, 2]}}
    with pytest.raises(ConfigurationError, match="phantom-markers-4: marker trajectories"):
        load_sequence(spec)
    loaded = load_sequence({k: v for k, v in spec.items() if k != "roi"})
    assert loaded.roi is None and loaded.n == 40 and loaded.period_s == pytest.approx(0.1)


def test_cine_roi_from_the_configuration_is_a_mask():
    """The configuration's 1-based inclusive ROI (x = columns, y = rows) becomes the mask."""
    spec = {"phantom": "cine", "seed": 2, "n_frames": 6, "shape": [24, 20],
            "spacing_mm": [2.0, 2.0], "roi": {"x": [3, 7], "y": [2, 5]}}
    roi = load_sequence(spec).roi
    assert roi is not None and roi.shape == (24, 20)
    assert roi.sum() == 5 * 4 and roi[1, 2] and roi[4, 6] and not roi[5, 6] and not roi[1, 7]
