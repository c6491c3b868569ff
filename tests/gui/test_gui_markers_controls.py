"""GUI paths that the type checker showed to mix marker trajectories and image sequences."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui


def test_opening_markers_syncs_the_controls_without_error(window, qtbot, tmp_path):
    """Marker trajectories have no slices: the slice control is disabled at 0, no error dialog."""
    from motionpredict import io
    from motionpredict.phantom import make_markers

    traj = make_markers(seed=3, duration_s=3.0, rate_hz=10.0).sequence
    path = io.write_points_csv(traj, tmp_path / "markers.csv")
    window.open_path(path)
    qtbot.waitUntil(lambda: window.model.sequence is not None and not window.busy, timeout=30_000)
    assert window.last_error is None, window.statusBar().currentMessage()
    assert window.model.is_markers and window.model.n_frames == 30
    assert not window.slice_spin.isEnabled()
    assert window.slice_spin.maximum() == 0
