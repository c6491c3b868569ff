"""Headless replay of the desktop viewer: requested vs effective frame rate, worst UI-thread stall.

For each data kind (cine phantom; marker phantom; ``eth-1`` and ``ovgu-ks81`` from
``../shared/data`` when present; the cine phantom with seven methods) the real window replays
``--frames`` frames at 1x after preparing the pipelines, with

* ``before``: the pacing of the viewer before issue #19 (Qt's default coarse timer, frame
  ``t + 1`` requested ``T / speed`` after frame ``t`` was requested), the baseline;
* ``after``: the current pacing (precise timer, frames due at ``t0 + k T / speed`` on an absolute
  clock, :class:`motionpredict.viewer_model.ReplayClock`),

both in the same run, on the same window. Effective rate = (frames shown - 1) / time between the
first and the last frame shown, leaving out the first ``SKIP`` frames after *Play*. The stall is
the longest gap between two ticks of a 5 ms precise timer in the GUI thread minus 5 ms (the time
the event loop could not answer a click), and beside it the same gap bounded by the process CPU
time used in it (time when the operating system ran none of the process's threads is not the
viewer's stall). The machine load (``uptime``) is printed: the machine is shared.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_replay.py [--frames 40] [--kinds phantom,...]
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
#: Frames shown first that the effective rate leaves out.
SKIP = 2
SEVEN = ("no-prediction", "linear", "lms", "rls", "kalman", "rtrl", "uoro")


class RelativeClock:
    """The pacing before issue #19: the next frame is due ``T / speed`` after this request."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self._next: float | None = None

    def start(self, period_s: float | None = None) -> None:
        if period_s is not None:
            self.period_s = period_s
        self._next = time.perf_counter()

    def delay_s(self) -> float:
        return 0.0 if self._next is None else max(0.0, self._next - time.perf_counter())

    def requested(self) -> None:
        self._next = time.perf_counter() + self.period_s


def load(kind: str) -> tuple[Any, dict[str, Any]] | None:
    """``(sequence or phantom, settings)`` of a data kind, ``None`` when its data are absent."""
    from motionpredict.phantom import make_cine, make_markers

    if kind == "phantom":
        return make_cine(seed=0, n_frames=140, shape=(128, 128)), {
            "methods": ("linear", "no-prediction"), "horizon_ms": 500.0, "train_frames": 60}
    if kind == "phantom-7":
        return make_cine(seed=0, n_frames=140, shape=(128, 128)), {
            "methods": SEVEN, "horizon_ms": 500.0, "train_frames": 60}
    if kind == "markers":
        return make_markers(seed=0, duration_s=60.0, rate_hz=10.0).sequence, {
            "methods": ("linear", "no-prediction"), "horizon_ms": 300.0, "train_frames": 300}
    if kind in ("eth-1", "ovgu-ks81"):
        folder = DATA / "cine_mri" / kind
        if not folder.is_dir():
            return None
        from motionpredict.io import load as io_load

        spacing = 1.0 if kind == "eth-1" else None  # published ETH results: 1 px = 1 mm
        return io_load(folder, spacing_mm=spacing), {
            "methods": ("linear", "no-prediction"), "horizon_ms": 2 * (314 if kind == "eth-1"
                                                                        else 167.5)}
    raise SystemExit(f"unknown kind {kind!r}")


def replay(win: Any, app: Any, n_frames: int, pacing: str) -> dict[str, float]:
    """Play ``n_frames`` frames at 1x from a prepared window; return rates and stalls."""
    from PySide6.QtCore import QCoreApplication, Qt, QTimer

    from motionpredict.viewer_model import ReplayClock

    m = win.model
    period = m.frame_period_s
    if pacing == "before":
        win.tick_timer.setTimerType(Qt.TimerType.CoarseTimer)
        win.replay_clock = RelativeClock(period)
    else:
        win.tick_timer.setTimerType(Qt.TimerType.PreciseTimer)
        win.replay_clock = ReplayClock(period)
    shown: list[float] = []
    on_frame = m.events.frame_added.connect(lambda _e: shown.append(time.perf_counter()))
    ticks: list[tuple[float, float]] = []
    probe = QTimer()
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.setInterval(5)
    probe.timeout.connect(lambda: ticks.append((time.perf_counter(), time.process_time())))
    probe.start()
    start = m.newest
    win.play()
    deadline = time.perf_counter() + n_frames * period * 3 + 60
    while (m.newest < start + n_frames and m.playing and time.perf_counter() < deadline):
        QCoreApplication.processEvents()
        time.sleep(0.0005)
    win.pause()
    probe.stop()
    m.events.frame_added.disconnect(on_frame)
    app.processEvents()
    gaps = [(b[0] - a[0], b[1] - a[1]) for a, b in itertools.pairwise(ticks)]
    worst = max(g for g, _ in gaps) - 0.005 if gaps else float("nan")
    bounded = max(min(g, c) for g, c in gaps) - 0.005 if gaps else float("nan")
    shown = shown[SKIP:]  # the first frames after Play carry one-off costs (caches, JIT)
    n = len(shown)
    eff = (n - 1) / (shown[-1] - shown[0]) if n > 1 else float("nan")
    return {"frames": n, "requested": 1.0 / period, "effective": eff,
            "stall_ms": 1e3 * max(worst, 0.0), "stall_cpu_ms": 1e3 * max(bounded, 0.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40, help="frames replayed per run")
    parser.add_argument("--kinds", default="phantom,markers,eth-1,ovgu-ks81,phantom-7")
    parser.add_argument("--window", default="1600x1000", help="window size WxH")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from motionpredict.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    ini = os.path.join(os.environ.get("TMPDIR", "/tmp"), "motionpredict-bench-gui-replay.ini")
    rows = []
    for kind in args.kinds.split(","):
        loaded = load(kind)
        if loaded is None:
            print(f"{kind}: data absent, skipped")
            continue
        value, settings = loaded
        win = MainWindow(settings=QSettings(ini, QSettings.Format.IniFormat))
        w, h = (int(v) for v in args.window.split("x"))
        win.resize(w, h)
        win.show()
        win._show_loaded(value, kind)
        win.model.update_settings(**settings)
        win._sync_controls()
        load_avg = os.getloadavg()[0]
        for pacing in ("before", "after"):
            # prepare (unpaced), then replay from the first replayed frame
            win.jump_to(0)
            t0 = time.perf_counter()
            while (win.model.first_frame is None or win.busy) and time.perf_counter() - t0 < 600:
                app.processEvents()
                time.sleep(0.001)
            r = replay(win, app, args.frames, pacing)
            rows.append((kind, len(settings["methods"]), pacing, r, load_avg))
            print(f"{kind:<10} {pacing:<6} {r}", flush=True)
            win.model.reset_results()
        win.close()
        win.deleteLater()
        app.processEvents()
    print()
    print(f"uptime: {os.popen('uptime').read().strip()}  ({os.cpu_count()} CPUs)")
    print()
    print("| data | methods | pacing | frames | requested /s | effective /s | effective / "
          "requested | worst stall ms | stall bounded by CPU ms | load (1 min) at start |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for kind, nm, pacing, r, la in rows:
        print(f"| {kind} | {nm} | {pacing} | {r['frames']} | {r['requested']:.3f} | "
              f"{r['effective']:.3f} | {r['effective'] / r['requested']:.4f} | "
              f"{r['stall_ms']:.1f} | {r['stall_cpu_ms']:.1f} | {la:.2f} |")


if __name__ == "__main__":
    main()
