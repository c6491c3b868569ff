"""Fixtures of the GUI tests: one main window per test, closed and its threads joined after."""

from __future__ import annotations

import gc

import pytest


@pytest.fixture
def window(qtbot, tmp_path):
    """A :class:`MainWindow` (offscreen) with recent files kept in a temporary INI file.

    Closing it stops the worker and plot threads; every open dialog is closed too.
    """
    pytest.importorskip("PySide6")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from motionpredict.gui.main_window import MainWindow

    # Destroy the windows of earlier tests now, in this thread, before this window's worker and
    # plot threads exist: left to the cyclic garbage collector, an old window can be collected
    # in a worker thread, and PySide then deletes it from the main thread while a live worker
    # thread holds one of Qt's signal-slot mutexes and waits for the GIL (a deadlock).
    gc.collect()
    QApplication.processEvents()
    QApplication.sendPostedEvents(None, 0)  # deleteLater of closed widgets
    settings = QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    yield win
    for w in QApplication.topLevelWidgets():
        if w is not win and w.isVisible():
            w.close()
    win.close()
    assert not win.worker_thread.thread.isRunning()
