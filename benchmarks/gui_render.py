"""Time the viewer's per-frame drawing work (GUI thread) on a phantom replayed by the real pipeline.

Prints one table: median and p95 ms of each drawing task over the replayed frames, and its ratio
to the baseline (the three frame views without overlays), measured in the same run. The plot
rendering runs in a background thread in the application; it is timed here in the foreground.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_render.py [--size 128] [--frames 30]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="phantom frame size in px")
    parser.add_argument("--frames", type=int, default=30, help="frames replayed and drawn")
    parser.add_argument("--window", default="1600x1000", help="window size WxH")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from motionpredict.gui.main_window import MainWindow
    from motionpredict.gui.plots import PlotData, render_image
    from motionpredict.phantom import make_cine

    app = QApplication.instance() or QApplication([])
    ini = os.path.join(os.environ.get("TMPDIR", "/tmp"), "motionpredict-bench-gui.ini")
    win = MainWindow(settings=QSettings(ini, QSettings.Format.IniFormat))
    w, h = (int(v) for v in args.window.split("x"))
    win.resize(w, h)
    win.show()
    ph = make_cine(seed=0, n_frames=40 + args.frames, shape=(args.size, args.size))
    win._show_loaded(ph, "phantom")
    win.model.update_settings(methods=("no-prediction",), horizon_ms=500.0, train_frames=40)
    win.run_synchronously(40 + args.frames - 1)
    app.processEvents()
    m = win.model
    first = m.first_frame or 0
    tasks: dict[str, list[float]] = {}

    def timed(name: str, fn) -> None:
        t0 = time.perf_counter()
        fn()
        tasks.setdefault(name, []).append((time.perf_counter() - t0) * 1e3)

    for t in range(first, m.newest + 1):
        m.position = t  # without the event: each task is timed on its own
        for field in ("none", "arrows", "grid"):
            m.display.field = field
            timed(f"views, field {field}", win.views.render_model)
        m.display.field = "arrows"
        timed(
            "latency panel refresh + repaint",
            lambda: (win.latency.refresh(), win.latency.repaint()),
        )
        timed("plot snapshot (model -> PlotData)", lambda: PlotData.from_model(m))
    data = PlotData.from_model(m)
    for _ in range(5):
        timed(
            "plots rendered (matplotlib Agg, worker thread)", lambda: render_image(data, 800, 380)
        )
    base = float(np.median(tasks["views, field none"]))
    print(f"phantom {args.size}x{args.size} px, window {args.window}, {args.frames} frames")
    print(f"{'task':<50} {'median ms':>10} {'p95 ms':>8} {'ratio':>7}")
    for name, values in tasks.items():
        v = np.asarray(values)
        print(
            f"{name:<50} {np.median(v):>10.2f} {np.percentile(v, 95):>8.2f} "
            f"{np.median(v) / base:>7.2f}"
        )
    win.close()


if __name__ == "__main__":
    main()
