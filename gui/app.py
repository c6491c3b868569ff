"""Application entry points: the interactive window and the scripted screenshot.

``launch`` opens the window (optionally with a sequence or a phantom) and runs the Qt event loop;
``screenshot`` renders the window with a real pipeline run up to a frame and saves it as PNG
(``motionpredict gui PATH --screenshot OUT.png``), for documentation and visual checks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import QApplication

from motionpredict.errors import ConfigurationError
from motionpredict.io.atomic import atomic_path

from .main_window import MainWindow

#: Shared libraries Qt's X11 (``xcb``) platform plugin loads, with the Debian/Ubuntu package that
#: provides each. A fresh Debian lacks several; without them Qt aborts with only a plugin message.
XCB_LIBRARIES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
}


def missing_system_libraries(platform: str | None = None) -> list[str]:
    """Debian packages missing for Qt's X11 platform plugin (empty when nothing is missing).

    Only checked on Linux for the ``xcb`` platform (``QT_QPA_PLATFORM`` unset or ``xcb``); the
    ``offscreen`` platform of the tests and screenshots needs none of them.

    Parameters
    ----------
    platform
        The Qt platform (default: ``QT_QPA_PLATFORM``).
    """
    import ctypes

    platform = os.environ.get("QT_QPA_PLATFORM", "") if platform is None else platform
    if not sys.platform.startswith("linux") or platform.split(":")[0] not in ("", "xcb"):
        return []
    missing = []
    for soname, package in XCB_LIBRARIES.items():
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(package)
    return missing


def check_system_libraries() -> None:
    """Refuse to start Qt when the X11 libraries it needs are missing (a one-line message).

    Raises
    ------
    MotionPredictError
        Naming the packages and the command that installs them.
    """
    from motionpredict.errors import MotionPredictError

    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    if (sys.platform.startswith("linux") and platform in ("", "xcb")
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")):
        raise MotionPredictError(
            "no display to open the viewer on (DISPLAY is not set); run it in a desktop session "
            "(or ssh -X), or write a picture with --screenshot OUT.png, which needs no display")
    missing = missing_system_libraries()
    if missing:
        raise MotionPredictError(
            "the desktop viewer needs X11 libraries that are not installed: "
            f"{', '.join(missing)}; on Debian/Ubuntu: sudo apt-get install {' '.join(missing)} "
            "(or run make, which installs them when it can; docs/install.md)")


def ensure_app(argv: Sequence[str] | None = None) -> QApplication:
    """Return the running ``QApplication``, creating it when needed.

    Raises
    ------
    MotionPredictError
        The X11 libraries Qt needs are missing (:func:`check_system_libraries`).
    """
    app = QApplication.instance()
    if app is None:
        check_system_libraries()
        QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
        app = QApplication(list(argv) if argv is not None else [sys.argv[0]])
        app.setApplicationName("motionpredict")
        app.setOrganizationName("motionpredict")
    assert isinstance(app, QApplication)
    return app


def _load(
    path: str | Path | None,
    phantom: dict[str, Any] | None,
    spacing_mm: float | tuple[float, ...] | None,
    frame_period_s: float | None,
) -> tuple[Any, str]:
    if phantom is not None:
        from motionpredict.phantom import make_cine, make_ct4d

        params = dict(phantom)
        kind = params.pop("kind", "cine")
        if kind not in ("cine", "ct4d"):
            raise ConfigurationError(f"phantom kind must be cine or ct4d, got {kind!r}")
        make = make_cine if kind == "cine" else make_ct4d
        return make(**params), f"{kind} phantom (seed {params.get('seed', 0)})"
    if path is None:
        raise ConfigurationError("give a sequence PATH or --phantom")
    from motionpredict.io import load

    return load(Path(path), spacing_mm=spacing_mm, frame_period_s=frame_period_s), str(path)


def launch(
    path: str | Path | None = None,
    *,
    phantom: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    spacing_mm: float | tuple[float, ...] | None = None,
    frame_period_s: float | None = None,
    display: dict[str, Any] | None = None,
) -> int:
    """Open the main window (with ``path`` or a phantom when given); return the exit status."""
    app = ensure_app()
    window = MainWindow()
    if settings:
        window.model.update_settings(**settings)
    if display:
        window.model.set_display(**display)
    window._sync_controls()
    window.resize(1600, 1000)
    window.show()
    if phantom is not None:
        window.open_phantom(**phantom)
    elif path is not None:
        window.open_path(path, spacing_mm=spacing_mm, frame_period_s=frame_period_s)
    return int(app.exec())


def screenshot(
    out: str | Path,
    *,
    path: str | Path | None = None,
    phantom: dict[str, Any] | None = None,
    frame: int | None = None,
    settings: dict[str, Any] | None = None,
    spacing_mm: float | tuple[float, ...] | None = None,
    frame_period_s: float | None = None,
    size: tuple[int, int] = (1600, 1000),
    display: dict[str, Any] | None = None,
) -> Path:
    """Render the main window after a real pipeline run up to ``frame`` and save it as PNG.

    Parameters
    ----------
    out
        PNG file written (atomically).
    path, phantom
        The sequence to open (``phantom``: keyword arguments of ``make_cine``, or of
        ``make_ct4d`` with ``kind="ct4d"``).
    frame
        Frame displayed (processed up to it); default: 20 frames after the training window.
    settings
        :class:`~motionpredict.viewer_model.PredictionSettings` fields.
    spacing_mm, frame_period_s
        What the files do not state.
    size
        Window size in pixels ``(width, height)``.
    display
        :class:`~motionpredict.viewer_model.DisplayOptions` fields.
    """
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = ensure_app()
    value, source = _load(path, phantom, spacing_mm, frame_period_s)
    window = MainWindow()
    try:
        window.resize(*size)
        window._show_loaded(value, source)
        if settings:
            window.model.update_settings(**settings)
        if display:
            window.model.set_display(**display)
        window._sync_controls()
        window.show()
        app.processEvents()
        # process up to the frame asked (prepare() tells where the replay starts)
        m = window.model
        processor = m.create_processor()
        m.begin(processor.prepare())
        assert m.first_frame is not None
        target = m.first_frame + 20 if frame is None else int(frame)
        target = max(m.first_frame, min(target, m.n_frames - 1))
        while m.newest < target:
            m.add_frame(processor.process_next())
            m.record_render_ms(m.newest, window.last_render_ms)
        m.set_position(target)
        window.latency.refresh()
        window._update_labels()
        for _ in range(3):
            app.processEvents()
        window.plots.render_now()
        app.processEvents()
        image = window.grab()
        target_path = Path(out)
        with atomic_path(target_path) as tmp:
            if not image.save(str(tmp), "PNG"):
                raise ConfigurationError(f"{target_path}: cannot write the PNG")
        return target_path
    finally:
        window.close()
        window.deleteLater()
        app.processEvents()
