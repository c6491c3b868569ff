"""The desktop viewer's X11 libraries: a missing one is named in one line, before Qt starts."""

from __future__ import annotations

import ctypes

import pytest

pytest.importorskip("PySide6")

from motionpredict.cli.main import main
from motionpredict.errors import MotionPredictError
from motionpredict.gui import app


@pytest.fixture
def no_xcb_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    real = ctypes.CDLL

    def fake(name: str, *args: object, **kwargs: object) -> object:
        if name in ("libxcb-cursor.so.0", "libxcb-icccm.so.4"):
            raise OSError(f"{name}: cannot open shared object file")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(ctypes, "CDLL", fake)
    monkeypatch.setattr(app.sys, "platform", "linux")


def test_missing_libraries_named_by_package(no_xcb_cursor: None) -> None:
    assert app.missing_system_libraries("xcb") == ["libxcb-cursor0", "libxcb-icccm4"]
    assert app.missing_system_libraries("") == ["libxcb-cursor0", "libxcb-icccm4"]
    assert app.missing_system_libraries("offscreen") == []  # tests and screenshots need none


def test_gui_command_refuses_in_one_line(no_xcb_cursor: None, monkeypatch, capsys) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(app.QApplication, "instance", staticmethod(lambda: None))
    with pytest.raises(MotionPredictError, match="libxcb-cursor0"):
        app.ensure_app()
    assert main(["gui", "--phantom"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4" in err[0]


def test_no_display_named_instead_of_a_qt_abort(monkeypatch, capsys) -> None:
    monkeypatch.setattr(app.sys, "platform", "linux")
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(app.QApplication, "instance", staticmethod(lambda: None))
    assert main(["gui", "--phantom"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "DISPLAY" in err[0] and "--screenshot" in err[0]
