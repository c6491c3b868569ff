"""Issue #19 in the window (pytest-qt, offscreen): metadata dialogs, replay timer, play state
after a setting change, method order, warm-up read-out."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt

from motionpredict.errors import MissingMetadataError

pytestmark = pytest.mark.gui


def test_metadata_dialogs_keep_what_was_typed(window, qtbot, tmp_path, monkeypatch):
    """A loader reports one gap at a time: spacing, then period; the second dialog keeps the
    spacing typed in the first, and the loader gets both (no third dialog)."""
    import motionpredict.io as mio
    from motionpredict.phantom import make_cine

    seq = make_cine(seed=1, n_frames=8, shape=(24, 24), frame_period_s=0.25).sequence
    calls = []

    def fake_load(path, *, spacing_mm=None, frame_period_s=None, **_kw):
        calls.append((spacing_mm, frame_period_s))
        if spacing_mm is None:
            raise MissingMetadataError(f"{path}: pixel spacing unknown; pass --spacing MM")
        if frame_period_s is None:
            raise MissingMetadataError(f"{path}: frame period unknown; pass --frame-period S")
        return seq

    monkeypatch.setattr(mio, "load", fake_load)
    folder = tmp_path / "ct"
    folder.mkdir()
    window.open_path(folder)
    qtbot.waitUntil(lambda: window.metadata_dialog is not None, timeout=30_000)
    first = window.metadata_dialog
    assert first.need_spacing and not first.need_period
    text = first.intro.text()
    assert "--spacing-mm MM" in text and "--spacing MM" not in text  # the GUI's option
    first.spacing_edit.setText("2.5, 1.5")
    first._try_accept()
    qtbot.waitUntil(lambda: window.metadata_dialog is not first, timeout=30_000)
    second = window.metadata_dialog
    assert second.need_period and not second.need_spacing
    assert second.spacing_edit.text() == "2.5, 1.5"  # remembered, not "(from the file)"
    second.period_edit.setText("314")
    second._try_accept()
    qtbot.waitUntil(lambda: window.model.sequence is not None, timeout=30_000)
    assert window.metadata_dialog is second  # no third dialog
    assert calls == [(None, None), ((2.5, 1.5), None), ((2.5, 1.5), 0.314)]


def test_metadata_wording_names_the_gui_options():
    from motionpredict.gui.dialogs import gui_wording

    msg = gui_wording("x: no spacing; pass --spacing MM. y: pass --frame-period S (or --dataset)")
    assert "--spacing-mm MM" in msg and "--frame-period-ms MS" in msg
    assert "--spacing MM" not in msg and "--frame-period S" not in msg
    assert gui_wording("--spacing-mm 2 is fine") == "--spacing-mm 2 is fine"


def test_replay_timer_is_precise(window):
    assert window.tick_timer.timerType() == Qt.TimerType.PreciseTimer


def _phantom(window, qtbot, n_frames=80):
    window.open_phantom(seed=2, n_frames=n_frames, shape=(32, 32), frame_period_s=0.25,
                        spacing_mm=(2.0, 2.0))
    qtbot.waitUntil(lambda: window.model.sequence is not None and not window.busy, timeout=30_000)
    window.model.update_settings(methods=("no-prediction",), horizon_ms=250.0, train_frames=12)
    window._sync_controls()
    return window.model


def test_setting_change_during_replay_goes_on_playing(window, qtbot):
    m = _phantom(window, qtbot)
    window.speed_spin.setValue(8.0)
    window.toggle_play()
    assert window.play_button.text() == "❚❚ Pause"  # preparing to play
    qtbot.waitUntil(lambda: m.newest >= 16, timeout=60_000)
    window.horizon_ms.setValue(500.0)
    window._apply_settings()  # what editingFinished does
    assert m.settings.horizon_ms == 500.0
    # still playing: the new pipelines are prepared and the replay goes on by itself
    assert window.play_button.text() == "❚❚ Pause"
    qtbot.waitUntil(lambda: m.first_frame is not None and m.newest >= m.first_frame + 3,
                    timeout=60_000)
    assert m.horizon_steps_used == 2 and m.playing
    window.toggle_play()
    assert window.play_button.text() == "▶ Play" and not m.playing


def test_shown_method_is_the_first_in_the_list(window, qtbot):
    m = _phantom(window, qtbot, n_frames=30)
    items = {window.method_list.item(i).text(): window.method_list.item(i)
             for i in range(window.method_list.count())}
    items["uoro"].setCheckState(Qt.CheckState.Checked)  # checked first, but last in the list
    items["lms"].setCheckState(Qt.CheckState.Checked)
    items["no-prediction"].setCheckState(Qt.CheckState.Unchecked)
    assert m.settings.methods == ("lms", "uoro") and m.primary == "lms"
    # the list shows each method in its plot colour, fixed by the registry
    from motionpredict.viewer_model import method_color

    assert items["uoro"].foreground().color().name() == method_color("uoro")
    assert method_color("uoro") != method_color("no-prediction")


def test_kalman_warm_up_is_shown(window, qtbot, tmp_path):
    from motionpredict import io
    from motionpredict.phantom import make_markers

    traj = make_markers(seed=3, duration_s=6.0, rate_hz=10.0).sequence
    window.open_path(io.write_points_csv(traj, tmp_path / "markers.csv"))
    qtbot.waitUntil(lambda: window.model.sequence is not None and not window.busy, timeout=30_000)
    window.model.update_settings(methods=("kalman",), horizon_ms=300.0, train_frames=20)
    window.jump_to(25)
    qtbot.waitUntil(lambda: window.model.newest >= 25 and not window.busy, timeout=60_000)
    left = window.model.warming_up["kalman"]
    assert left > 0
    assert f"kalman warming up (last value) for {left} more sample(s)" in (
        window.frame_label.text()
    )


def test_shown_method_stays_when_another_setting_changes(window, qtbot):
    """An order given by --method (here: no-prediction before linear, against the list) stays
    when the horizon changes; it is the checked methods changing that applies the list order."""
    _phantom(window, qtbot, n_frames=30)
    m = window.model
    m.update_settings(methods=("no-prediction", "linear"))
    window._sync_controls()
    window.horizon_ms.setValue(750.0)
    window._apply_settings()
    assert m.settings.horizon_ms == 750.0 and m.primary == "no-prediction"


def test_error_summary_per_method(window, qtbot):
    import numpy as np

    m = _phantom(window, qtbot, n_frames=40)
    m.update_settings(methods=("linear", "no-prediction"), horizon_ms=500.0, train_frames=12)
    window.jump_to(30)
    qtbot.waitUntil(lambda: m.newest >= 30 and not window.busy, timeout=60_000)
    rows = {r["method"]: r for r in m.method_summary()}
    t_lin, e_lin = m.field_error_series("linear")
    t_np, e_np = m.field_error_series("no-prediction")
    np.testing.assert_array_equal(t_lin, t_np)
    assert rows["linear"]["n"] == e_lin.size == 30 - 12 + 1 - 2  # targets acquired so far
    assert rows["linear"]["mean_mm"] == pytest.approx(e_lin.mean())
    assert rows["linear"]["p95_mm"] == pytest.approx(np.percentile(e_lin, 95))
    assert rows["linear"]["gain"] == pytest.approx(1 - e_lin.mean() / e_np.mean())
    assert rows["no-prediction"]["gain"] is None
    assert rows["linear"]["issued"] == 30 - 12 + 1
    text = window.summary_label.text()
    assert f"{e_lin.mean():.2f}" in text and f"{100 * rows['linear']['gain']:+.0f} %" in text


def test_play_after_the_last_frame_loops_over_the_results(window, qtbot):
    m = _phantom(window, qtbot, n_frames=20)
    window.jump_to(19)
    qtbot.waitUntil(lambda: m.newest == 19 and not window.busy, timeout=60_000)
    window.speed_spin.setValue(20.0)  # 12.5 ms per frame
    seen: list[int] = []
    m.events.position.connect(lambda e: seen.append(e.value))
    window.toggle_play()
    assert window.looping and window.play_button.text() == "❚❚ Pause"
    qtbot.waitUntil(lambda: len(seen) >= 12, timeout=10_000)
    # 19 -> first replayed frame (12) -> 13 ... 19 -> 12 ...: the replayed frames in a loop
    assert seen[:9] == [12, 13, 14, 15, 16, 17, 18, 19, 12]
    window.toggle_play()
    assert not window.looping and window.play_button.text() == "▶ Play"
    n = len(seen)
    qtbot.wait(100)
    assert len(seen) == n  # stopped


def test_ortho_legend_names_only_contours_that_exist(window, qtbot):
    """Volumes read from disk carry no tumour mask: the legend must not promise contours."""
    from motionpredict.phantom import make_ct4d

    ct = make_ct4d(seed=0, n_phases=16, shape=(12, 20, 20), spacing_mm=(2.5, 2.0, 2.0),
                   frame_period_s=0.5)
    window.model.set_sequence(ct.sequence, source="ct without mask")
    window.model.update_settings(methods=("no-prediction",), horizon_ms=500.0, train_frames=8)
    window.run_synchronously(12)
    window.view_tabs.setCurrentWidget(window.ortho)
    window._render_views()
    st = window.model.ortho_views(window.model.position)
    assert st.issued is not None and not st.masks
    assert window.ortho.axial.info == "no tumour mask in the data: no contours"
    assert not window.ortho.axial.overlays
