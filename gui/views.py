"""The synchronised frame views: acquired t, predicted t+h, and the check of a prediction.

Each :class:`ImageView` draws one 2D image with the physical aspect ratio of its pixels (spacing
in mm), a title strip above and an information strip below (never over the image), and optional
overlays: tumour contours, the ROI rectangle, the displacement field as arrows or as a deformed
grid. Grey levels follow the shared window/level; difference images use a blue-white-red map
centred on 0. The mouse wheel steps through frames; dragging with the right button changes the
window (horizontal) and the level (vertical).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPen, qRgb
from PySide6.QtWidgets import QHBoxLayout, QSizePolicy, QWidget

from motionpredict.viewer_model import ViewerModel, apply_window

TITLE_H = 22
INFO_H = 20

#: Grey lookup table and a blue-white-red one for signed differences.
GREY = [qRgb(i, i, i) for i in range(256)]


def _diverging_table() -> list[int]:
    table = []
    for i in range(256):
        x = (i - 127.5) / 127.5  # -1 .. 1
        if x < 0:
            r = g = round(255 * (1 + x))
            b = 255
        else:
            r = 255
            g = b = round(255 * (1 - x))
        table.append(qRgb(r, g, b))
    return table


DIVERGING = _diverging_table()


@dataclass
class Overlay:
    """A polyline drawn over an image: ``points`` ``(N, 2)`` pixels (row, col)."""

    points: np.ndarray
    color: QColor
    closed: bool = True
    dashed: bool = False


class ImageView(QWidget):
    """One 2D image with overlays.

    Signals
    -------
    wheel_steps(int)
        +1 / -1 per wheel notch (down / up): the window steps through frames.
    window_drag(float, float)
        Right-button drag in pixels ``(dx, dy)``: adjust window and level.
    """

    wheel_steps = Signal(int)
    window_drag = Signal(float, float)

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(220, 220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.title = title
        self.info = ""
        self.placeholder = "no frame"
        #: The float image last shown (what the model gave), ``None`` when empty.
        self.source: np.ndarray | None = None
        #: The 8-bit image drawn.
        self.pixels: np.ndarray | None = None
        self._qimage: QImage | None = None
        self.spacing: tuple[float, float] = (1.0, 1.0)
        self.overlays: list[Overlay] = []
        self.roi: tuple[int, int, int, int] | None = None
        self.field_px: np.ndarray | None = None
        self.field_mode = "none"
        self._drag_from: QPointF | None = None

    # ------------------------------------------------------------------ content
    def set_image(
        self,
        image: np.ndarray | None,
        *,
        window: float,
        level: float,
        spacing: tuple[float, float] = (1.0, 1.0),
        diverging: bool = False,
    ) -> None:
        """Show ``image`` (2D, intensity unit) through ``window``/``level``; ``None`` clears."""
        self.spacing = (float(spacing[0]), float(spacing[1]))
        if image is None:
            self.source = self.pixels = None
            self._qimage = None
            return
        img = np.asarray(image)
        self.source = img
        grey = np.ascontiguousarray(apply_window(img, window, level))
        self.pixels = grey
        h, w = grey.shape
        qimg = QImage(grey.data, w, h, w, QImage.Format.Format_Indexed8)
        qimg.setColorTable(DIVERGING if diverging else GREY)
        self._qimage = qimg.copy()  # own the pixels: the array may be freed

    def clear_overlays(self) -> None:
        """Drop contours, ROI and field."""
        self.overlays = []
        self.roi = None
        self.field_px = None

    # ------------------------------------------------------------------ geometry
    def image_rect(self) -> QRectF:
        """Where the image is drawn: fitted below the title, above the info, physical aspect."""
        if self.pixels is None:
            return QRectF()
        h, w = self.pixels.shape
        avail = QRectF(0, TITLE_H, self.width(), max(1, self.height() - TITLE_H - INFO_H))
        phys_w, phys_h = w * self.spacing[1], h * self.spacing[0]
        scale = min(avail.width() / phys_w, avail.height() / phys_h)
        dw, dh = phys_w * scale, phys_h * scale
        return QRectF(
            avail.x() + (avail.width() - dw) / 2, avail.y() + (avail.height() - dh) / 2, dw, dh
        )

    def to_widget(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Widget coordinates ``(x, y)`` of pixel-centre positions ``(rows, cols)``."""
        rect = self.image_rect()
        assert self.pixels is not None
        h, w = self.pixels.shape
        x = rect.x() + (np.asarray(cols) + 0.5) * rect.width() / w
        y = rect.y() + (np.asarray(rows) + 0.5) * rect.height() / h
        return x, y

    # ------------------------------------------------------------------ painting
    def paintEvent(self, event: object) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(20, 20, 24))
        font = QFont(self.font())
        p.setFont(font)
        p.setPen(QColor(235, 235, 235))
        p.drawText(
            QRectF(6, 0, self.width() - 12, TITLE_H),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
            self.title,
        )
        p.setPen(QColor(190, 190, 190))
        p.drawText(
            QRectF(6, self.height() - INFO_H, self.width() - 12, INFO_H),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
            self.info,
        )
        if self._qimage is None:
            p.setPen(QColor(140, 140, 140))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            p.end()
            return
        rect = self.image_rect()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        p.drawImage(rect, self._qimage)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setClipRect(rect)
        self._paint_field(p)
        if self.roi is not None:
            r0, c0, r1, c1 = self.roi
            x0, y0 = self.to_widget(np.array([r0 - 0.5]), np.array([c0 - 0.5]))
            x1, y1 = self.to_widget(np.array([r1 - 0.5]), np.array([c1 - 0.5]))
            pen = QPen(QColor(255, 210, 0), 1.5, Qt.PenStyle.DashLine)
            p.setPen(pen)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(
                QRectF(float(x0[0]), float(y0[0]), float(x1[0] - x0[0]), float(y1[0] - y0[0]))
            )
        for ov in self.overlays:
            if len(ov.points) < 2:
                continue
            x, y = self.to_widget(ov.points[:, 0], ov.points[:, 1])
            path = QPainterPath(QPointF(float(x[0]), float(y[0])))
            for xi, yi in zip(x[1:], y[1:], strict=True):
                path.lineTo(float(xi), float(yi))
            if ov.closed:
                path.closeSubpath()
            pen = QPen(ov.color, 2.0, Qt.PenStyle.DashLine if ov.dashed else Qt.PenStyle.SolidLine)
            p.setPen(pen)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)
        p.end()

    def _paint_field(self, p: QPainter) -> None:
        if self.field_px is None or self.field_mode == "none" or self.pixels is None:
            return
        f = self.field_px
        h, w = f.shape[:2]
        step = max(2, min(h, w) // 16)
        rows = np.arange(step // 2, h, step)
        cols = np.arange(step // 2, w, step)
        if self.field_mode == "arrows":
            rr, cc = np.meshgrid(rows, cols, indexing="ij")
            u = f[rr, cc]
            x0, y0 = self.to_widget(rr.ravel(), cc.ravel())
            x1, y1 = self.to_widget((rr + u[..., 0]).ravel(), (cc + u[..., 1]).ravel())
            dx, dy = x1 - x0, y1 - y0
            length = np.hypot(dx, dy)
            ux = np.divide(dx, length, out=np.zeros_like(dx), where=length > 0)
            uy = np.divide(dy, length, out=np.zeros_like(dy), where=length > 0)
            head = length > 3  # arrow heads only where the arrow is visible
            segs = [np.stack([x0, y0, x1, y1], axis=1)]
            for sgn in (1.0, -1.0):
                hx = x1 - 4 * ux + sgn * 2.5 * uy
                hy = y1 - 4 * uy - sgn * 2.5 * ux
                segs.append(np.stack([x1, y1, hx, hy], axis=1)[head])
            lines = [QLineF(*seg) for seg in np.concatenate(segs).tolist()]
            p.setPen(QPen(QColor(0, 220, 255), 1.3))
            p.drawLines(lines)
        else:  # deformed grid: reference grid lines moved by u
            p.setPen(QPen(QColor(0, 220, 255, 200), 1.0))
            all_r, all_c = np.arange(h), np.arange(w)
            for r in rows:
                xs, ys = self.to_widget(r + f[r, :, 0], all_c + f[r, :, 1])
                self._polyline(p, xs, ys)
            for c in cols:
                xs, ys = self.to_widget(all_r + f[:, c, 0], c + f[:, c, 1])
                self._polyline(p, xs, ys)

    @staticmethod
    def _polyline(p: QPainter, xs: np.ndarray, ys: np.ndarray) -> None:
        path = QPainterPath(QPointF(float(xs[0]), float(ys[0])))
        for x, y in zip(xs[1:], ys[1:], strict=True):
            path.lineTo(float(x), float(y))
        p.drawPath(path)

    # ------------------------------------------------------------------ interaction
    def wheelEvent(self, event: object) -> None:
        dy = event.angleDelta().y()  # type: ignore[attr-defined]
        if dy:
            notches = round(dy / 120) or (1 if dy > 0 else -1)  # high-resolution wheels: < 120
            self.wheel_steps.emit(-notches)  # wheel up (away from the user) = previous frame
        event.accept()  # type: ignore[attr-defined]

    def mousePressEvent(self, event: object) -> None:
        if event.button() == Qt.MouseButton.RightButton:  # type: ignore[attr-defined]
            self._drag_from = event.position()  # type: ignore[attr-defined]

    def mouseMoveEvent(self, event: object) -> None:
        if self._drag_from is not None:
            pos = event.position()  # type: ignore[attr-defined]
            self.window_drag.emit(pos.x() - self._drag_from.x(), pos.y() - self._drag_from.y())
            self._drag_from = pos

    def mouseReleaseEvent(self, event: object) -> None:
        self._drag_from = None


def image_row(parent: QWidget, *titles: str) -> list[ImageView]:
    """Lay out one :class:`ImageView` per title side by side in ``parent``; return them."""
    layout = QHBoxLayout(parent)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(4)
    views = [ImageView(t) for t in titles]
    for v in views:
        layout.addWidget(v)
    return views


class FrameViews(QWidget):
    """The three synchronised views, rendered from a :class:`ViewerModel`.

    ``acquired``: frame ``t`` with the tumour contour of its registration; ``predicted``: the
    frame predicted at ``t`` for ``t + h`` with the predicted field and contour; ``check``: a
    prediction compared with the frame actually acquired at its target (see
    :meth:`ViewerModel.comparison_indices`).
    """

    def __init__(self, model: ViewerModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.acquired, self.predicted, self.check = image_row(
            self, "Acquired", "Predicted", "Check"
        )

    def views(self) -> tuple[ImageView, ImageView, ImageView]:
        """The three views, left to right."""
        return self.acquired, self.predicted, self.check

    def render_model(self) -> None:
        """Draw the model's current position into the three views (synchronous repaint)."""
        m = self.model
        for v in self.views():
            v.clear_overlays()
        seq = m.image_sequence  # None without a sequence or for marker trajectories
        if seq is None or m.position < 0:
            for v in self.views():
                v.set_image(None, window=1, level=0)
                v.info = ""
                v.placeholder = (
                    "marker trajectories: no images (see the plots)" if m.is_markers else "no frame"
                )
            self.acquired.title = "Acquired"
            self.predicted.title = "Predicted"
            self.check.title = "Check"
            self.repaint_all()
            return
        d = m.display
        t = m.position
        h = m.horizon_steps
        spacing = (seq.spacing[-2], seq.spacing[-1])
        period_ms = m.frame_period_s * 1e3
        t_s = seq.times[t]
        first = m.first_frame if m.first_frame is not None else 0
        kind = " (training)" if t < first else ""
        self.acquired.title = f"Acquired  frame {t}{kind}  t = {t_s:.2f} s"
        self.acquired.set_image(m.acquired(t), window=d.window, level=d.level, spacing=spacing)
        self.acquired.info = f"W {d.window:.4g}  L {d.level:.4g}"
        if d.show_contours:
            self.acquired.roi = m.roi
            for c in m.registered_contours(t):
                self.acquired.overlays.append(Overlay(c, QColor(60, 230, 90)))

        pred = m.predicted(t)
        self.predicted.title = f"Predicted  frame {t + h}  (t + {h * period_ms:.0f} ms)"
        self.predicted.set_image(pred, window=d.window, level=d.level, spacing=spacing)
        if pred is None:
            self.predicted.placeholder = (
                "training frame: no prediction" if t < first else "not computed"
            )
            self.predicted.info = ""
        else:
            self.predicted.info = f"{m.primary}, {m.settings.mode}"
            field = m.predicted_field(t)
            if field is not None and d.field != "none":
                self.predicted.field_px = field / np.asarray(spacing, dtype=np.float32)
                self.predicted.field_mode = d.field
                self.predicted.info += f"; field: {d.field} (true scale)"
            if d.show_contours:
                self.predicted.roi = m.roi
                for c in m.predicted_contours(t):
                    self.predicted.overlays.append(Overlay(c, QColor(255, 90, 200)))

        comp = m.comparison(t)
        if comp is None:
            self.check.title = "Check: no prediction can be checked yet"
            self.check.set_image(None, window=1, level=0)
            self.check.placeholder = f"needs a prediction made {h} frame(s) earlier"
            self.check.info = ""
        else:
            issued, target, actual, predicted, combined = comp
            self.check.title = f"Check  frame {target} acquired vs predicted at {issued}"
            diff = d.compare == "difference"
            level = 0.0 if diff else d.level
            self.check.set_image(
                combined, window=d.window, level=level, spacing=spacing, diverging=diff
            )
            rmse = float(np.sqrt(np.mean((actual.astype(np.float64) - predicted) ** 2)))
            label = {
                "difference": "acquired − predicted (blue < 0 < red)",
                "blend": "mean of acquired and predicted",
                "checkerboard": "tiles: acquired / predicted",
            }[d.compare]
            self.check.info = f"{label}; RMSE {rmse:.4g}"
            check = m.target_check(t)  # issue #21: the target moved by each field
            if check is not None:
                self.check.info += (
                    f"; {check.region} centroid error {check.centroid_error_mm:.2f} mm"
                )
            if d.show_contours:
                self.check.roi = m.roi
                for c in check.actual_contours if check is not None else []:
                    self.check.overlays.append(Overlay(c, QColor(60, 230, 90)))
                for c in check.predicted_contours if check is not None else []:
                    self.check.overlays.append(Overlay(c, QColor(255, 90, 200), dashed=True))
        self.repaint_all()

    def repaint_all(self) -> None:
        """Repaint the three views now (so the render time is measured, not deferred)."""
        for v in self.views():
            v.repaint()
