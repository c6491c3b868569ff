"""The review views on pyqtgraph: acquired, predicted and check images in mm with linked zoom/pan.

Each view is a pyqtgraph ``PlotItem`` whose axes are in mm (pixel ``(r, c)`` is centred at
``(x, y) = (c s_x, r s_y)`` from the first pixel, ``s`` the spacing), with the aspect ratio locked
so that a millimetre is as long across as down. The three views share one x and one y range
(zoom or pan any of them, the others follow: mouse wheel zooms, left drag pans, "Reset zoom"
shows the whole frame). The acquired and predicted images follow the shared window/level through
a colour map (grey, viridis, inferno, cividis); the difference image of the check view uses a
blue-white-red map centred on 0 with a colour bar labelled in the intensity unit. A 10 mm scale
bar sits in the acquired view; the check view states the current geometric error in mm of the
prediction it shows. Moving the mouse over any view shows a crosshair in all three and reads out
the intensity, the position in mm and the measured and predicted displacement in mm there.

Frame stepping is on the keyboard (Left/Right) and the plots (a click seeks to that time) here:
the wheel zooms.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from motionpredict.viewer_model import ViewerModel

#: Colour maps offered for the acquired and predicted images.
COLOUR_MAPS: tuple[str, ...] = ("grey", "viridis", "inferno", "cividis")
#: Diverging map of the difference image (CET-D1: blue - white - red).
DIFFERENCE_MAP = "CET-D1"
#: Lengths the scale bar may take in mm (the one nearest a fifth of the frame's width).
SCALE_BAR_MM: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
BACKGROUND = (20, 20, 24)
PLACEHOLDER = ("Mouse over an image: intensity, position and displacement (mm) at the cursor. "
               "Wheel: zoom (all three views); left drag: pan; Reset zoom: whole frame.")


def colour_map(name: str) -> pg.ColorMap:
    """A pyqtgraph colour map by name (``grey`` or one of pyqtgraph's bundled maps)."""
    if name == "grey":
        return pg.ColorMap([0.0, 1.0], [(0, 0, 0), (255, 255, 255)])
    return pg.colormap.get(name)


class ReviewViews(QWidget):
    """Three linked image views in mm rendered from a :class:`ViewerModel`.

    Attributes
    ----------
    plots
        The acquired, predicted and check ``PlotItem`` (left to right).
    images
        Their ``ImageItem``.
    colorbar
        The colour bar of the difference image (hidden for blend and checkerboard).
    error_text
        The geometric error in mm of the prediction shown in the check view.
    readout
        The cursor read-out line below the views; :attr:`last_readout` holds its values.
    """

    def __init__(self, model: ViewerModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.colour_map_name = "grey"
        self.last_readout: dict[str, Any] | None = None
        self._extent: tuple[int, int, float, float] | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setBackground(BACKGROUND)
        self.plots: list[pg.PlotItem] = []
        self.images: list[pg.ImageItem] = []
        self.crosshairs: list[tuple[pg.InfiniteLine, pg.InfiniteLine]] = []
        # contour/ROI curves are reused from frame to frame (hidden when unused): no Qt objects
        # become garbage during a replay, which the cyclic collector could free in a worker
        # thread (PySide then deletes them in the GUI thread at an arbitrary moment)
        self._overlays: list[list[Any]] = [[], [], []]
        self._used = [0, 0, 0]
        for title in ("Acquired", "Predicted", "Check"):
            p = self.glw.addPlot(title=title)
            p.setAspectLocked(True)
            p.invertY(True)
            p.setLabel("bottom", "x (mm)")
            p.setLabel("left", "y (mm)")
            p.showGrid(x=False, y=False)
            p.hideButtons()
            img = pg.ImageItem(axisOrder="row-major")
            p.addItem(img)
            pen = pg.mkPen((255, 255, 0, 150), width=1)
            v = pg.InfiniteLine(angle=90, movable=False, pen=pen)
            h = pg.InfiniteLine(angle=0, movable=False, pen=pen)
            for line in (v, h):
                line.setVisible(False)
                p.addItem(line, ignoreBounds=True)
            self.plots.append(p)
            self.images.append(img)
            self.crosshairs.append((v, h))
        for p in self.plots[1:]:
            p.setXLink(self.plots[0])
            p.setYLink(self.plots[0])
            p.setLabel("left", "")  # the same rows as the acquired view: room for the images
        self.colorbar = pg.ColorBarItem(
            values=(-1.0, 1.0),
            width=15,
            colorMap=colour_map(DIFFERENCE_MAP),
            label="acquired − predicted (intensity)",
            interactive=False,
            colorMapMenu=False,
        )
        self.colorbar.setImageItem(self.images[2], insert_in=self.plots[2])
        self.colorbar.axis.setWidth(48)  # room for the tick labels in narrow windows
        self.scale_bar_mm = 10.0
        self.scale_bar = pg.ScaleBar(size=self.scale_bar_mm, suffix="m")
        self.scale_bar.setParentItem(self.plots[0].getViewBox())
        self.scale_bar.anchor((1, 1), (1, 1), offset=(-12, -12))
        self.scale_bar.text.setText(f"{self.scale_bar_mm:g} mm")
        self.error_text = pg.TextItem("", color=(255, 235, 120), anchor=(0, 0))
        self.error_text.setParentItem(self.plots[2].getViewBox())
        self.error_text.setZValue(1000)  # above the image, whatever the zoom
        self.error_text.fill = pg.mkBrush(0, 0, 0, 160)
        self.error_text.setPos(6, 4)
        layout.addWidget(self.glw, 1)
        self.readout = QLabel(PLACEHOLDER)
        self.readout.setWordWrap(True)  # never widens the window
        self.readout.setMinimumWidth(100)
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.readout)
        self.glw.scene().sigMouseMoved.connect(self._mouse_moved)

    # ------------------------------------------------------------------ options
    def set_colour_map(self, name: str) -> None:
        """Colour map of the acquired and predicted images (one of :data:`COLOUR_MAPS`)."""
        if name not in COLOUR_MAPS:
            raise ValueError(f"colour map must be one of {COLOUR_MAPS}, got {name!r}")
        self.colour_map_name = name
        self.render_model()

    def reset_zoom(self) -> None:
        """Show the whole frame in the three (linked) views."""
        if self._extent is None:
            return
        h, w, sy, sx = self._extent
        self.plots[0].getViewBox().setRange(
            xRange=(-sx / 2, (w - 0.5) * sx), yRange=(-sy / 2, (h - 0.5) * sy), padding=0.02
        )

    # ------------------------------------------------------------------ rendering
    def _clear_overlays(self) -> None:
        for items in self._overlays:
            for it in items:
                it.setVisible(False)
        self._used = [0, 0, 0]

    def _curve(self, i: int, rows: np.ndarray, cols: np.ndarray, color: tuple[int, ...],
               dashed: bool = False) -> None:
        sy, sx = self._extent[2:] if self._extent else (1.0, 1.0)
        pen = pg.mkPen(color, width=2, style=Qt.PenStyle.DashLine if dashed else
                       Qt.PenStyle.SolidLine)
        x, y = np.asarray(cols) * sx, np.asarray(rows) * sy
        if len(x) > 2 and (x[0], y[0]) != (x[-1], y[-1]):  # a contour: close it
            x, y = np.r_[x, x[:1]], np.r_[y, y[:1]]
        if self._used[i] < len(self._overlays[i]):
            item = self._overlays[i][self._used[i]]
            item.setData(x, y)
            item.setPen(pen)
            item.setVisible(True)
        else:
            item = pg.PlotDataItem(x, y, pen=pen)
            self.plots[i].addItem(item, ignoreBounds=True)
            self._overlays[i].append(item)
        self._used[i] += 1

    def _set(self, i: int, image: np.ndarray | None, levels: tuple[float, float],
             cmap: pg.ColorMap) -> None:
        img = self.images[i]
        if image is None:
            img.clear()
            return
        h, w = image.shape
        sy, sx = self._extent[2:] if self._extent else (1.0, 1.0)
        img.setImage(np.asarray(image, dtype=np.float32), autoLevels=False, levels=levels)
        img.setColorMap(cmap)
        img.setRect(QRectF(-sx / 2, -sy / 2, w * sx, h * sy))

    def render_model(self) -> None:
        """Draw the model's displayed frame (keeps the zoom unless the frame size changed)."""
        m = self.model
        self._clear_overlays()
        seq = m.image_sequence
        if seq is None or m.position < 0:
            for img in self.images:
                img.clear()
            for p, title in zip(self.plots, ("Acquired", "Predicted", "Check"), strict=True):
                p.setTitle(title)
            self.error_text.setText("")
            return
        d = m.display
        t, hz = m.position, m.horizon_steps
        acquired = m.acquired(t)
        sy, sx = float(seq.spacing[-2]), float(seq.spacing[-1])
        extent = (acquired.shape[0], acquired.shape[1], sy, sx)
        new_extent = extent != self._extent
        self._extent = extent
        levels = (d.level - d.window / 2.0, d.level + d.window / 2.0)
        cmap = colour_map(self.colour_map_name)
        first = m.first_frame if m.first_frame is not None else 0
        kind = " (training)" if t < first else ""
        self.plots[0].setTitle(f"Acquired frame {t}{kind}, t = {seq.times[t]:.2f} s")
        self._set(0, acquired, levels, cmap)
        pred = m.predicted(t)
        self.plots[1].setTitle(
            f"Predicted frame {t + hz} (t + {hz * m.frame_period_s * 1e3:.0f} ms), {m.primary}"
            if pred is not None else "Predicted: none (training frame)" if t < first
            else "Predicted: not computed"
        )
        self._set(1, pred, levels, cmap)
        comp = m.comparison(t)
        if comp is None:
            self.plots[2].setTitle("Check: no prediction can be checked yet")
            self._set(2, None, levels, cmap)
            self.colorbar.setVisible(False)
            self.error_text.setText("")
        else:
            issued, target, _actual, _predicted, combined = comp
            self.plots[2].setTitle(f"Check frame {target} vs predicted at {issued}")
            if d.compare == "difference":
                half = d.window / 2.0
                self._set(2, combined, (-half, half), colour_map(DIFFERENCE_MAP))
                self.colorbar.setLevels((-half, half))
                self.colorbar.setVisible(True)
            else:
                self._set(2, combined, levels, cmap)
                self.colorbar.setVisible(False)
            err = m.checked_error_mm(t)
            where = "ROI" if (m.roi is not None or m.roi_slices is not None) else "frame"
            text = "" if err is None else f"error {err[2]:.2f} mm ({where} mean |û − u_LK|)"
            tc = m.target_check(t)  # issue #21: the target moved by both fields
            if tc is not None:
                text += ("\n" if text else "") + (
                    f"{tc.region} centroid error {tc.centroid_error_mm:.2f} mm, Dice {tc.dice:.3f}"
                )
            self.error_text.setText(text)
        if d.show_contours:
            if m.roi is not None:
                r0, c0, r1, c1 = m.roi
                rr = np.array([r0, r0, r1, r1, r0]) - 0.5
                cc = np.array([c0, c1, c1, c0, c0]) - 0.5
                for i in range(3):
                    self._curve(i, rr, cc, (255, 210, 0), dashed=True)
            for c in m.target_contours("actual", t):
                self._curve(0, c[:, 0], c[:, 1], (60, 230, 90))
            if pred is not None:
                for c in m.target_contours("predicted", t):
                    self._curve(1, c[:, 0], c[:, 1], (255, 90, 200))
            check = m.target_check(t) if comp is not None else None
            if check is not None:  # the target moved by each field (motionpredict.target)
                for c in check.actual_contours:
                    self._curve(2, c[:, 0], c[:, 1], (60, 230, 90))
                for c in check.predicted_contours:
                    self._curve(2, c[:, 0], c[:, 1], (255, 90, 200), dashed=True)
        if new_extent:
            width_mm = acquired.shape[1] * sx
            self.scale_bar_mm = min(SCALE_BAR_MM, key=lambda v: abs(v - width_mm / 5.0))
            self.scale_bar.size = self.scale_bar_mm
            self.scale_bar.text.setText(f"{self.scale_bar_mm:g} mm")
            self.scale_bar.updateBar()
            self.reset_zoom()

    # ------------------------------------------------------------------ cursor
    def _mouse_moved(self, pos: QPointF) -> None:
        for p in self.plots:
            if p.getViewBox().sceneBoundingRect().contains(pos):
                pt = p.getViewBox().mapSceneToView(pos)
                self.show_cursor(pt.x(), pt.y())
                return

    def show_cursor(self, x_mm: float, y_mm: float) -> dict[str, Any] | None:
        """Put the crosshair at ``(x_mm, y_mm)`` in the three views and read the frame there."""
        if self._extent is None:
            return None
        _h, _w, sy, sx = self._extent
        row, col = round(y_mm / sy), round(x_mm / sx)
        ro = self.model.cursor_readout(row, col)
        for v, h in self.crosshairs:
            v.setPos(x_mm)
            h.setPos(y_mm)
            v.setVisible(ro is not None)
            h.setVisible(ro is not None)
        self.last_readout = ro
        if ro is None:
            self.readout.setText(PLACEHOLDER)
            return None
        pos = ", ".join(f"{v:.1f}" for v in ro["position_mm"])
        axes = "z, y, x" if len(ro["position_mm"]) == 3 else "y, x"
        text = (f"pixel (row {row}, col {col}); ({axes}) = ({pos}) mm; intensity "
                f"{ro['intensity']:.4g}")

        def mm(d: tuple[float, float] | None) -> str:
            return "–" if d is None else (f"(dy {d[0]:+.2f}, dx {d[1]:+.2f}) mm, "
                                          f"|d| {np.hypot(*d):.2f} mm")

        text += (f"; displacement measured {mm(ro['measured_mm'])}; "
                 f"predicted {mm(ro['predicted_mm'])}")
        self.readout.setText(text)
        return ro
