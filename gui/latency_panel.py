"""Latency budget panel: one stacked bar of stage times per processed frame.

Stages (bottom to top): read, register, project, forecast (+ learn), reconstruct, warp, render,
in ms, for the primary method. Two reference lines: the frame period ``T`` (a live system must
finish each frame before the next arrives) and, when a system latency ``L`` is compensated, the
computation budget ``kT - L`` (see :mod:`motionpredict.viewer_model`). A frame over its budget is
flagged in red under its bar and in the warning line; the header shows running median and p99.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from motionpredict.viewer_model import STAGES, LatencyStats, ViewerModel

#: One colour per stage (colour-blind friendly palette, Okabe-Ito).
STAGE_COLORS: dict[str, QColor] = {
    "read": QColor(153, 153, 153),
    "register": QColor(0, 114, 178),
    "project": QColor(86, 180, 233),
    "forecast": QColor(0, 158, 115),
    "reconstruct": QColor(240, 228, 66),
    "warp": QColor(230, 159, 0),
    "render": QColor(204, 121, 167),
}

MAX_BARS = 120


class LatencyChart(QWidget):
    """The bar chart itself (custom painting: cheap enough to redraw on every frame)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.frames = np.zeros(0, dtype=np.int64)
        self.table = np.zeros((0, len(STAGES)))
        self.period_ms: float | None = None
        self.budget_ms: float | None = None

    def set_data(
        self,
        frames: np.ndarray,
        table: np.ndarray,
        period_ms: float | None,
        budget_ms: float | None,
    ) -> None:
        """Show the last :data:`MAX_BARS` frames of ``table`` (``(N, len(STAGES))`` ms)."""
        self.frames = np.asarray(frames)[-MAX_BARS:]
        self.table = np.asarray(table)[-MAX_BARS:]
        self.period_ms = period_ms
        self.budget_ms = budget_ms
        self.update()

    def y_max(self) -> float:
        """Top of the scale in ms: the tallest bar or the budget, with 15 % headroom."""
        top = float(self.table.sum(axis=1).max()) if len(self.table) else 1.0
        if self.budget_ms is not None:
            top = max(top, self.budget_ms)
        if self.period_ms is not None and self.period_ms <= 3 * top:
            top = max(top, self.period_ms)
        return max(top * 1.15, 1e-3)

    def paintEvent(self, event: object) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(255, 255, 255))
        fm = p.fontMetrics()
        left, right, top, bottom = fm.horizontalAdvance("0000 ms") + 8, 8, 8, 10
        plot = QRectF(left, top, self.width() - left - right, self.height() - top - bottom)
        if plot.width() < 20 or plot.height() < 20:
            p.end()
            return
        ymax = self.y_max()

        def y_of(ms: float) -> float:
            return plot.bottom() - ms / ymax * plot.height()

        # axis and ticks
        p.setPen(QPen(QColor(120, 120, 120), 1))
        p.drawLine(plot.bottomLeft(), plot.bottomRight())
        p.drawLine(plot.bottomLeft(), plot.topLeft())
        for tick in _nice_ticks(ymax):
            y = y_of(tick)
            p.setPen(QPen(QColor(225, 225, 225), 1))
            p.drawLine(int(plot.left()) + 1, int(y), int(plot.right()), int(y))
            p.setPen(QColor(80, 80, 80))
            p.drawText(
                QRectF(0, y - 8, left - 4, 16),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                f"{tick:g} ms",
            )
        n = len(self.table)
        if n:
            slot = plot.width() / max(n, 30)
            width = max(1.0, slot * 0.8)
            totals = self.table.sum(axis=1)
            for i in range(n):
                x = plot.left() + i * slot + (slot - width) / 2
                base = 0.0
                for j, stage in enumerate(STAGES):
                    v = float(self.table[i, j])
                    if v <= 0:
                        continue
                    y0, y1 = y_of(base), y_of(min(base + v, ymax))
                    p.fillRect(QRectF(x, y1, width, y0 - y1), STAGE_COLORS[stage])
                    base += v
                if self.budget_ms is not None and totals[i] > self.budget_ms:
                    p.fillRect(QRectF(x, plot.bottom() + 2, width, 6), QColor(200, 0, 0))
        for value, colour, label in (
            (self.period_ms, QColor(90, 90, 90), "frame period"),
            (self.budget_ms, QColor(200, 0, 0), "budget"),
        ):
            if value is None:
                continue
            if value > ymax:
                p.setPen(colour)
                p.drawText(
                    QRectF(plot.left() + 4, plot.top(), plot.width() - 8, 16),
                    Qt.AlignmentFlag.AlignRight,
                    f"{label} {value:.0f} ms (above scale)",
                )
                continue
            y = y_of(value)
            p.setPen(QPen(colour, 1.5, Qt.PenStyle.DashLine))
            p.drawLine(int(plot.left()), int(y), int(plot.right()), int(y))
            text = f"{label} {value:.0f} ms"
            tw, th = fm.horizontalAdvance(text) + 8, fm.height() + 2
            box = QRectF(plot.right() - tw - 2, y - th - 1, tw, th)
            p.fillRect(box, QColor(255, 255, 255, 225))  # readable over the bars
            p.setPen(colour)
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        p.end()


def _nice_ticks(ymax: float) -> list[float]:
    """Three to six round tick values in ``(0, ymax]``."""
    raw = ymax / 4
    mag = 10 ** np.floor(np.log10(raw))
    step = min((m * mag for m in (1, 2, 5, 10) if m * mag >= raw), default=raw)
    return [float(v) for v in np.arange(step, ymax + 1e-9, step)]


class LatencyPanel(QWidget):
    """Title, running statistics, the bar chart, a legend and the warning line."""

    def __init__(self, model: ViewerModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(2)
        self.header = QLabel("Processing time per frame")
        self.header.setStyleSheet("font-weight: bold")
        self.stats_label = QLabel("no frame processed")
        self.stats_label.setWordWrap(True)
        self.chart = LatencyChart()
        legend = " ".join(
            f"<span style='color:{STAGE_COLORS[s].name()}'>&#9632;</span>&nbsp;{s}" for s in STAGES
        )
        self.legend = QLabel(legend)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.warning = QLabel("")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #b00020; font-weight: bold")
        for w in (self.header, self.stats_label, self.chart, self.legend, self.warning):
            layout.addWidget(w)
        self.stats: LatencyStats | None = None

    def refresh(self) -> None:
        """Read the model's timings and redraw."""
        m = self.model
        frames, table = m.latency_table()
        if m.sequence is None:
            self.chart.set_data(frames, table, None, None)
            self.stats = None
            self.stats_label.setText("no sequence")
            self.warning.setText("")
            return
        period = m.frame_period_s * 1e3
        budget = m.budget_ms
        self.chart.set_data(frames, table, period, budget)
        self.header.setText(f"Processing time per frame ({m.primary})")
        self.stats = stats = m.latency_stats()
        if stats is None:
            self.stats_label.setText(
                f"frame period {period:.1f} ms"
                + (f"; budget {budget:.1f} ms" if budget is not None else "")
            )
            self.warning.setText("")
            return
        text = (
            f"median {stats.median_ms:.1f} ms, p99 {stats.p99_ms:.1f} ms, max "
            f"{stats.max_ms:.1f} ms over {stats.n_frames} frames; frame period "
            f"{stats.frame_period_ms:.1f} ms"
        )
        if stats.budget_ms is not None:
            text += f"; budget {stats.budget_ms:.1f} ms (horizon {m.horizon_ms:.0f} ms − latency)"
        self.stats_label.setText(text)
        last_total = float(table[-1].sum())
        warnings = []
        if stats.budget_ms is not None and stats.n_over_budget:
            warnings.append(
                f"{stats.n_over_budget} of {stats.n_frames} frames missed the "
                f"{stats.budget_ms:.1f} ms budget (last frame {last_total:.1f} ms)"
            )
        if stats.n_over_period:
            n = stats.n_over_period
            warnings.append(
                f"{n} frame{'s' if n > 1 else ''} took longer than the frame period: "
                "a live system would fall behind"
            )
        self.warning.setText("⚠ " + "; ".join(warnings) if warnings else "")
