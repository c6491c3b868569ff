"""Plots (matplotlib's Qt backend): PCA weights measured vs predicted, prediction error over time.

Top: the PCA weights of every acquired frame (solid) and the primary method's forecasts drawn at
the time they are *for* (dashed, i.e. shifted by the horizon ``h``); training frames are shaded.
Bottom: the geometric error of each checked prediction, mean ``|u_predicted - u_LK|`` in mm over
the image (or the ROI), one line per method. A vertical line marks the displayed frame.

Redrawing a matplotlib figure costs tens of ms, so during replay :meth:`PlotPanel.refresh` redraws
at most every :data:`MIN_REDRAW_S` seconds (the last state is always drawn).
"""

from __future__ import annotations

import time
from pathlib import Path

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

from motionpredict.io.atomic import atomic_path
from motionpredict.viewer_model import ViewerModel

MIN_REDRAW_S = 0.5
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")


class PlotPanel(QWidget):
    """The two synchronised plots over the model's results."""

    def __init__(self, model: ViewerModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.figure = Figure(figsize=(6, 4), layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.ax_weights, self.ax_error = self.figure.subplots(2, 1, sharex=True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self._last_draw = 0.0
        self._pending = QTimer(self)
        self._pending.setSingleShot(True)
        self._pending.timeout.connect(lambda: self.refresh(force=True))
        self.n_redraws = 0
        self._draw()

    def refresh(self, *, force: bool = False) -> None:
        """Redraw now, or within :data:`MIN_REDRAW_S` when the last redraw was recent."""
        now = time.perf_counter()
        wait = MIN_REDRAW_S - (now - self._last_draw)
        if force or wait <= 0:
            self._pending.stop()
            self._draw()
        elif not self._pending.isActive():
            self._pending.start(int(wait * 1000) + 1)

    def _draw(self) -> None:
        m = self.model
        aw, ae = self.ax_weights, self.ax_error
        aw.clear()
        ae.clear()
        aw.set_ylabel("PCA weight")
        ae.set_ylabel("field error (mm)")
        ae.set_xlabel("time (s)")
        if m.sequence is not None and m.newest >= 0:
            h_ms = m.horizon_ms
            ws = m.weight_series()
            n_comp = ws["true"].shape[1] if ws["true"].size else 0
            for c in range(n_comp):
                col = COLORS[c % len(COLORS)]
                aw.plot(ws["times"], ws["true"][:, c], color=col, lw=1.2, label=f"w{c + 1}")
                if ws["predicted"].size:
                    aw.plot(
                        ws["pred_times"],
                        ws["predicted"][:, c],
                        color=col,
                        lw=1.2,
                        ls="--",
                        label=f"w{c + 1} predicted",
                    )
            if m.first_frame:
                aw.axvspan(
                    m.sequence.times[0], m.sequence.times[m.first_frame - 1], color="0.92", lw=0
                )
            aw.set_title(
                f"measured (solid) vs predicted {h_ms:.0f} ms ahead (dashed), {m.primary}; "
                "grey: training",
                fontsize=9,
            )
            if n_comp:
                aw.legend(fontsize=7, ncol=min(2 * n_comp, 6), loc="upper left")
            for i, method in enumerate(m.settings.methods):
                t, e = m.field_error_series(method)
                if e.size:
                    ae.plot(t, e, color=COLORS[i % len(COLORS)], lw=1.2, label=method)
            ae.set_title("prediction vs registration of the acquired target frame", fontsize=9)
            if any(line.get_label() for line in ae.get_lines()):
                ae.legend(fontsize=7, loc="upper left")
            if m.position >= 0:
                x = float(m.sequence.times[m.position])
                for ax in (aw, ae):
                    ax.axvline(x, color="k", lw=0.8, alpha=0.6)
        else:
            aw.set_title("no replay yet", fontsize=9)
        for ax in (aw, ae):
            ax.tick_params(labelsize=8)
            ax.grid(True, alpha=0.3)
        self.canvas.draw_idle()
        self._last_draw = time.perf_counter()
        self.n_redraws += 1

    def save_png(self, path: str | Path, dpi: int = 150) -> Path:
        """Write the current plots to a PNG file (atomically); return the path."""
        self._draw()
        out = Path(path)
        with atomic_path(out) as tmp:
            self.figure.savefig(tmp, dpi=dpi, format="png")
        return out
