"""The viewer shows the Lucas-Kanade parameters and the made-worse flag of the training frames."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

pytestmark = pytest.mark.gui


def test_registration_parameters_and_flags_are_shown(window, qtbot):
    window.open_phantom(seed=2, n_frames=24, shape=(48, 48), frame_period_s=0.25,
                        spacing_mm=(2.0, 2.0))
    qtbot.waitUntil(lambda: window.model.sequence is not None, timeout=30_000)
    window.model.update_settings(methods=("no-prediction",), horizon_ms=250.0, train_frames=12)
    window._sync_controls()
    assert window.registration_label.text() == ""
    window.jump_to(13)
    qtbot.waitUntil(lambda: window.model.newest >= 13 and not window.busy, timeout=60_000)
    text = window.registration_label.text()
    assert "training frames made worse: 0" in text and "intensity meanstd" in text
    tip = window.registration_label.toolTip()
    assert "sigma_lk=4.0" in tip and "none" in tip.splitlines()[-1]
