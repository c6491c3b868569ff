"""The 4DCT view: axial, coronal and sagittal slices with the predicted and actual tumour.

Everything shown comes from :meth:`motionpredict.viewer_model.ViewerModel.ortho_views` (slices,
pixel sizes in mm, contour arrays); this widget only draws them: the acquired volume that a
prediction is for, sliced through the actual tumour's centroid, with the actual tumour contour
(green, solid: reference mask moved by that frame's Lucas-Kanade field) and the predicted one
(magenta, dashed: moved by the field predicted ``h`` earlier).
"""

from __future__ import annotations

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from motionpredict.viewer_model import ViewerModel

from .views import ImageView, Overlay, image_row

#: Colour and line style of each contour kind.
CONTOUR_STYLE: dict[str, tuple[QColor, bool]] = {
    "actual": (QColor(60, 230, 90), False),
    "predicted": (QColor(255, 90, 200), True),
    "reference": (QColor(255, 210, 0), False),
}

_AXES = {"axial": "slice", "coronal": "row", "sagittal": "col"}


class OrthoViews(QWidget):
    """Three orthogonal slices of the displayed 3D frame, rendered from a :class:`ViewerModel`."""

    def __init__(self, model: ViewerModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.axial, self.coronal, self.sagittal = image_row(
            self, "Axial", "Coronal", "Sagittal"
        )

    def views(self) -> tuple[ImageView, ImageView, ImageView]:
        """Axial, coronal and sagittal views, left to right."""
        return self.axial, self.coronal, self.sagittal

    def render_model(self) -> None:
        """Draw the model's current position (synchronous repaint)."""
        m = self.model
        state = m.ortho_views(m.position) if m.has_ortho else None
        for v in self.views():
            v.clear_overlays()
        if state is None:
            for v, name in zip(self.views(), ("Axial", "Coronal", "Sagittal"), strict=True):
                v.title = name
                v.info = ""
                v.placeholder = ("orthogonal slices need a 3D sequence (4DCT)" if not m.has_ortho
                                 else "no frame")
                v.set_image(None, window=1, level=0)
            self.repaint_all()
            return
        d = m.display
        if state.issued is None:
            what = f"frame {state.target}"
            legend = "green: tumour moved by its registration" if "actual" in state.masks else (
                "yellow: reference tumour" if state.masks else "no tumour mask")
        else:
            what = f"frame {state.target} acquired, predicted at {state.issued}"
            # the legend names only the contours there are (data read from disk have no mask)
            legend = ("green: actual tumour (registration), magenta dashed: predicted"
                      if state.masks else "no tumour mask in the data: no contours")
        for v, ov in zip(self.views(), state.views, strict=True):
            v.set_image(ov.image, window=d.window, level=d.level, spacing=ov.pixel_mm)
            v.title = f"{ov.plane.capitalize()}  {_AXES[ov.plane]} {ov.index}  ({what})"
            v.info = legend
            if d.show_contours:
                for name, contours in ov.contours.items():
                    color, dashed = CONTOUR_STYLE.get(name, (QColor(0, 220, 255), False))
                    for c in contours:
                        v.overlays.append(Overlay(c, color, closed=False, dashed=dashed))
        self.repaint_all()

    def repaint_all(self) -> None:
        """Repaint the three views now."""
        for v in self.views():
            v.repaint()
