"""Plots: PCA weights measured vs predicted, and the prediction error over time.

Top: the PCA weights of every acquired frame (solid) and the primary method's forecasts drawn at
the time they are *for* (dashed, i.e. shifted by the horizon ``h``); training frames are shaded.
Bottom: the geometric error of each checked prediction, mean ``|u_predicted - u_LK|`` in mm over
the image (or the ROI), one line per method. A vertical line marks the displayed frame.

A matplotlib redraw costs tens to hundreds of ms (more on a loaded machine), far above the 100 ms
an interface may freeze. So the figure is drawn with matplotlib's Agg renderer in a dedicated
thread (:class:`PlotRenderer`) from an immutable :class:`PlotData` snapshot taken in the GUI
thread, and the finished image is shown by :class:`PlotPanel`; requests are coalesced (the latest
snapshot wins) and spaced by at least :data:`MIN_INTERVAL_S`, because matplotlib holds the
Python GIL while it draws and would otherwise slow down the pipeline and the GUI thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PySide6.QtCore import QObject, QRectF, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from motionpredict.io.atomic import atomic_path
from motionpredict.sequences import PointTrajectories
from motionpredict.viewer_model import ViewerModel, method_color

COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
DPI = 100.0
#: Shortest time between two renderings in s: matplotlib holds the GIL while it draws.
MIN_INTERVAL_S = 0.4


@dataclass(frozen=True)
class PlotData:
    """Everything the plots show, copied out of the model (safe to hand to another thread).

    Attributes
    ----------
    times, true
        ``(T,)`` s and ``(T, n)`` measured weights of the acquired frames.
    pred_times, predicted
        ``(M,)`` target times in s and ``(M, n)`` forecasts of the primary method.
    errors
        ``{method: (times_s (K,), error_mm (K,))}``.
    training_end_s
        Time of the last training frame (``None`` before the replay was prepared).
    cursor_s
        Time of the displayed frame (``None`` when none).
    horizon_ms, primary
        Horizon and primary method, for the titles.
    columns, labels
        Columns of ``true``/``predicted`` drawn and their legend labels (all PCA weights; for
        markers the z coordinate of each marker, superior-inferior in the Krilavicius data).
    quantity, error_label
        Axis labels.
    top_plot
        ``"displacement"``: the top plot shows the target's displacement in mm (the
        ``disp_*`` series of :meth:`ViewerModel.displacement_series`, replayed frames) instead
        of the PCA weights (``"weights"``; always for markers).
    """

    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    true: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    pred_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    predicted: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    errors: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    training_start_s: float | None = None
    training_end_s: float | None = None
    cursor_s: float | None = None
    horizon_ms: float = 0.0
    primary: str = ""
    columns: tuple[int, ...] = ()
    labels: tuple[str, ...] = ()
    quantity: str = "PCA weight"
    error_label: str = "field error (mm)"
    top_plot: str = "weights"
    disp_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    disp_measured: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    disp_pred_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    disp_predicted: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    disp_labels: tuple[str, ...] = ()
    disp_region: str = ""

    @property
    def title(self) -> str:
        """What the top plot shows, for its title."""
        return "marker z (mm)" if self.quantity.startswith("marker") else "PCA weights"

    @classmethod
    def from_model(cls, model: ViewerModel) -> PlotData:
        """Snapshot of the model's series (copies)."""
        m = model
        if m.sequence is None or m.newest < 0:
            return cls()
        ws = m.weight_series()
        errors = {
            method: tuple(a.copy() for a in m.field_error_series(method))
            for method in m.settings.methods
        }
        first = m.first_frame
        n = ws["true"].shape[1] if ws["true"].ndim == 2 else 0
        seq = m.sequence
        if isinstance(seq, PointTrajectories):
            columns = tuple(range(2, n, 3))
            labels = tuple(f"{name} z" for name in (seq.names or ()))[: len(columns)]
            quantity, error_label = "marker z (mm)", "position error (mm)"
        else:
            columns = tuple(range(n))
            labels = tuple(f"w{c + 1}" for c in columns)
            quantity, error_label = "PCA weight", "field error (mm)"
        top = "weights"
        disp: dict = {}
        if not isinstance(seq, PointTrajectories) and m.display.top_plot == "displacement":
            disp = m.displacement_series()
            top = "displacement" if disp["times"].size else "weights"
        return cls(
            times=ws["times"].copy(),
            true=ws["true"].copy(),
            pred_times=ws["pred_times"].copy(),
            predicted=ws["predicted"].copy(),
            errors=errors,  # type: ignore[arg-type]
            training_start_s=float(m.sequence.times[0]) if first else None,
            training_end_s=float(m.sequence.times[first - 1]) if first else None,
            cursor_s=float(m.sequence.times[m.position]) if m.position >= 0 else None,
            horizon_ms=m.horizon_ms,
            primary=m.primary,
            columns=columns,
            labels=labels,
            quantity=quantity,
            error_label=error_label,
            top_plot=top,
            disp_times=disp.get("times", np.zeros(0)),
            disp_measured=disp.get("measured", np.zeros((0, 0))),
            disp_pred_times=disp.get("pred_times", np.zeros(0)),
            disp_predicted=disp.get("predicted", np.zeros((0, 0))),
            disp_labels=tuple(disp.get("labels", ())),
            disp_region=str(disp.get("region", "")),
        )


def new_figure(width_px: int, height_px: int) -> tuple[Figure, FigureCanvasAgg]:
    """A figure of the given size in pixels with its Agg canvas (no pyplot state)."""
    fig = Figure(figsize=(max(width_px, 50) / DPI, max(height_px, 50) / DPI), dpi=DPI)
    return fig, FigureCanvasAgg(fig)


def draw_plots(fig: Figure, data: PlotData) -> None:
    """Draw ``data`` into ``fig`` (two stacked axes sharing the time axis)."""
    fig.clear()
    aw, ae = fig.subplots(2, 1, sharex=True)
    # margins in pixels (axis labels and titles stay inside small windows, e.g. 1366 x 768)
    w_px, h_px = fig.get_size_inches() * fig.dpi
    fig.subplots_adjust(left=max(0.09, 58 / w_px), right=0.98, top=1 - max(0.07, 20 / h_px),
                        bottom=max(0.11, 34 / h_px), hspace=max(0.32, 44 / h_px * 2))
    aw.set_ylabel(data.quantity, fontsize=8)
    ae.set_ylabel(data.error_label, fontsize=8)
    ae.set_xlabel("time (s)", fontsize=8)
    n_comp = len(data.columns) if data.true.size else 0
    show_disp = data.top_plot == "displacement" and data.disp_measured.size > 0
    if n_comp and show_disp:
        aw.set_ylabel("displacement (mm)", fontsize=8)
        for i, label in enumerate(data.disp_labels):
            col = COLORS[i % len(COLORS)]
            aw.plot(data.disp_times, data.disp_measured[:, i], color=col, lw=1.2, label=label)
            if data.disp_predicted.size:
                aw.plot(data.disp_pred_times, data.disp_predicted[:, i], color=col, lw=1.2,
                        ls="--", label=f"{label} predicted")
        if data.training_end_s is not None and data.training_start_s is not None:
            aw.axvspan(data.training_start_s, data.training_end_s, color="0.92", lw=0)
        aw.set_title(
            f"target displacement, {data.disp_region} mean: measured (solid), predicted "
            f"{data.horizon_ms:.0f} ms ahead (dashed), {data.primary}",
            fontsize=8,
        )
        aw.legend(fontsize=7, ncol=2 * len(data.disp_labels), loc="upper left")
        if data.times.size:
            aw.set_xlim(float(data.times[0]), None)
    if n_comp:
        if not show_disp:
            for i, (c, label) in enumerate(zip(data.columns, data.labels, strict=True)):
                col = COLORS[i % len(COLORS)]
                aw.plot(data.times, data.true[:, c], color=col, lw=1.2, label=label)
                if data.predicted.size:
                    aw.plot(
                        data.pred_times,
                        data.predicted[:, c],
                        color=col,
                        lw=1.2,
                        ls="--",
                        label=f"{label} predicted",
                    )
            if data.training_end_s is not None and data.training_start_s is not None:
                aw.axvspan(data.training_start_s, data.training_end_s, color="0.92", lw=0)
            aw.set_title(
                f"{data.title}: measured (solid) vs predicted {data.horizon_ms:.0f} ms ahead "
                f"(dashed), {data.primary}; grey = training",
                fontsize=8,
            )
            aw.legend(fontsize=7, ncol=min(2 * n_comp, 6), loc="upper left")
        for method, (t, e) in data.errors.items():
            if e.size:  # one colour per method, fixed by the registry (never two alike)
                ae.plot(t, e, color=method_color(method), lw=1.2, label=method)
        ae.set_title(
            "error of each prediction vs its acquired target"
            + ("" if data.quantity.startswith("marker") else " (registration)"),
            fontsize=8,
        )
        if ae.get_lines():
            ae.legend(fontsize=7, loc="upper left")
        if data.cursor_s is not None:
            for ax in (aw, ae):
                ax.axvline(data.cursor_s, color="k", lw=0.8, alpha=0.6)
    else:
        aw.set_title("no replay yet", fontsize=8)
    for ax in (aw, ae):
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)


def time_axis(fig: Figure) -> tuple[float, float, float, float] | None:
    """``(x0, x1, t0, t1)``: the shared time axis spans figure fractions ``x0..x1`` (from the
    left) and times ``t0..t1`` in s; ``None`` before anything is plotted."""
    if not fig.axes:
        return None
    ax = fig.axes[-1]
    box = ax.get_position()
    t0, t1 = ax.get_xlim()
    return float(box.x0), float(box.x1), float(t0), float(t1)


def render_image(data: PlotData, width_px: int, height_px: int) -> QImage:
    """Render ``data`` to a ``QImage`` of the given size (any thread)."""
    return render_with_axis(data, width_px, height_px)[0]


def render_with_axis(
    data: PlotData, width_px: int, height_px: int
) -> tuple[QImage, tuple[float, float, float, float] | None]:
    """:func:`render_image` and the :func:`time_axis` of the figure drawn."""
    fig, canvas = new_figure(width_px, height_px)
    draw_plots(fig, data)
    canvas.draw()
    buf = np.asarray(canvas.buffer_rgba())
    h, w = buf.shape[:2]
    image = QImage(buf.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
    return image, (time_axis(fig) if data.true.size else None)


class PlotRenderer(QObject):
    """Draws plots in its own thread; ``rendered(request_id, QImage)`` answers each request."""

    rendered = Signal(int, QImage, object)
    _requested = Signal(int, object, int, int)

    def __init__(self) -> None:
        super().__init__()
        self._requested.connect(self._render)

    def request(self, request_id: int, data: PlotData, width: int, height: int) -> None:
        """Ask for a rendering (queued to the renderer's thread)."""
        self._requested.emit(request_id, data, width, height)

    @Slot(int, object, int, int)
    def _render(self, request_id: int, data: PlotData, width: int, height: int) -> None:
        image, axis = render_with_axis(data, width, height)
        self.rendered.emit(request_id, image, axis)


class PlotPanel(QWidget):
    """Shows the plots of the model's results; redraws off the GUI thread.

    Attributes
    ----------
    data
        The last snapshot requested (what the plots show once :attr:`shown_id` reaches
        :attr:`requested_id`).
    """

    #: A click on the plots: the time in s under the mouse (the window seeks to that frame).
    seek_time = Signal(float)

    def __init__(self, model: ViewerModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.time_axis: tuple[float, float, float, float] | None = None
        self.setToolTip("click: show the frame at that time")
        self.setMinimumSize(300, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.data = PlotData()
        self.image: QImage | None = None
        self.requested_id = 0
        self.shown_id = 0
        self._in_flight = False
        self._dirty = False
        self._thread = QThread()
        self._thread.setObjectName("motionpredict-plots")
        self.renderer = PlotRenderer()
        self.renderer.moveToThread(self._thread)
        self.renderer.rendered.connect(self._on_rendered)
        self._thread.start()
        self._last_request_s = 0.0
        self._throttle = QTimer(self)
        self._throttle.setSingleShot(True)
        self._throttle.timeout.connect(self._send)
        self._resize_timer = QTimer(self)
        self._resize_timer.setSingleShot(True)
        self._resize_timer.timeout.connect(self.refresh)

    def refresh(self, *, force: bool = False) -> None:
        """Take a new snapshot of the model and redraw (coalesced; ``force`` is accepted for
        symmetry with the other panels: every call leads to a redraw)."""
        self.data = PlotData.from_model(self.model)
        self._dirty = True
        self._send()

    def _send(self) -> None:
        if self._in_flight or not self._dirty:
            return
        wait = MIN_INTERVAL_S - (time.perf_counter() - self._last_request_s)
        if wait > 0:  # leave the CPU (and the GIL) to the pipeline and the GUI thread
            if not self._throttle.isActive():
                self._throttle.start(int(wait * 1000) + 1)
            return
        self._last_request_s = time.perf_counter()
        self._dirty = False
        self._in_flight = True
        self.requested_id += 1
        self.renderer.request(
            self.requested_id, self.data, max(self.width(), 50), max(self.height(), 50)
        )

    @Slot(int, QImage, object)
    def _on_rendered(self, request_id: int, image: QImage, axis: object) -> None:
        self._in_flight = False
        self.image = image
        self.time_axis = axis  # type: ignore[assignment]
        self.shown_id = request_id
        self.update()
        self._send()

    def render_now(self) -> None:
        """Draw the current model synchronously in this thread (screenshots, exports)."""
        self.data = PlotData.from_model(self.model)
        self.image, self.time_axis = render_with_axis(
            self.data, max(self.width(), 50), max(self.height(), 50)
        )
        self.update()

    def time_at(self, x_px: float) -> float | None:
        """The time in s at widget x coordinate ``x_px`` (``None`` outside the time axis)."""
        if self.time_axis is None or self.width() <= 0:
            return None
        x0, x1, t0, t1 = self.time_axis
        f = x_px / self.width()
        if not x0 <= f <= x1 or x1 <= x0:
            return None
        return t0 + (f - x0) / (x1 - x0) * (t1 - t0)

    def mousePressEvent(self, event: object) -> None:
        if event.button() == Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            t = self.time_at(event.position().x())  # type: ignore[attr-defined]
            if t is not None:
                self.seek_time.emit(t)

    def resizeEvent(self, event: object) -> None:
        self._resize_timer.start(150)

    def paintEvent(self, event: object) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(255, 255, 255))
        if self.image is not None:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            p.drawImage(QRectF(self.rect()), self.image)
        else:
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "plots")
        p.end()

    def save_png(self, path: str | Path, dpi: int = 150) -> Path:
        """Write the current plots to a PNG file (atomically) at ``dpi``; return the path."""
        data = PlotData.from_model(self.model)
        fig, _canvas = new_figure(int(self.width() * dpi / DPI), int(self.height() * dpi / DPI))
        fig.set_dpi(dpi)
        fig.set_size_inches(max(self.width(), 300) / DPI, max(self.height(), 200) / DPI)
        draw_plots(fig, data)
        out = Path(path)
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
        return out

    def stop(self) -> None:
        """End the rendering thread (after the rendering in progress)."""
        self._thread.quit()
        self._thread.wait(30_000)
