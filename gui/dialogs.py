"""Dialogs: missing pixel spacing / frame period, new phantom, errors.

Spacing and frame period are never guessed: when a file lacks them the user types them here (or
cancels). Errors are shown as non-blocking message boxes holding the one-line message, with the
traceback of unexpected errors under "Show Details".
"""

from __future__ import annotations

import math
import re
from typing import TypedDict

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from motionpredict.errors import ConfigurationError


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> QMessageBox:
    """Show ``message`` in a window-modal, non-blocking error box and return it."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle(title)
    box.setText(message)
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def gui_wording(message: str) -> str:
    """A loader's message with the command-line options of ``motionpredict gui`` (and the dialog).

    The loaders name the options of ``predict``/``info`` (``--spacing MM``, ``--frame-period S``);
    the GUI's are ``--spacing-mm MM`` and ``--frame-period-ms MS``, and the dialog takes both.
    """
    out = re.sub(r"--spacing(?![-\w]) ?(MM)?", "--spacing-mm MM", message)
    out = re.sub(r"--frame-period(?![-\w]) ?(S\b)?", "--frame-period-ms MS", out)
    if out != message:
        out += " (or type the values below)"
    return out


def parse_positive_floats(text: str, what: str) -> tuple[float, ...]:
    """Parse ``"1.5"`` or ``"2.5, 2, 2"`` into positive finite floats.

    Raises
    ------
    ConfigurationError
        When a value is not a number or not positive.
    """
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    if not parts:
        raise ConfigurationError(f"{what}: no value given")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise ConfigurationError(f"{what}: {text!r} is not a list of numbers") from None
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise ConfigurationError(f"{what}: values must be positive, got {text!r}")
    return values


class MetadataDialog(QDialog):
    """Ask for the pixel spacing (mm) and/or the frame period (ms) a file does not state.

    Parameters
    ----------
    source
        The file or folder being opened (shown to the user).
    problem
        The loader's message saying what is missing.
    need_spacing, need_period
        Which quantities are required (the others may stay empty: the file's value is used).
    spacing_mm, frame_period_s
        Values typed before for this source (mm, s): shown in the fields, kept when left as is.
    """

    def __init__(
        self,
        source: str,
        problem: str,
        *,
        need_spacing: bool,
        need_period: bool,
        spacing_mm: float | tuple[float, ...] | None = None,
        frame_period_s: float | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Missing acquisition metadata")
        self.need_spacing = need_spacing
        self.need_period = need_period
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"<b>{source}</b><br>{problem}<br><br>These values are not guessed: type them from "
            "the acquisition protocol (array-axis order for the spacing: row, column; or slice, "
            "row, column)."
        )
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(intro)
        self.intro = intro
        form = QFormLayout()
        self.spacing_edit = QLineEdit()
        self.spacing_edit.setPlaceholderText(
            "e.g. 1.5 or 1.5, 1.5" if need_spacing else "(from the file)"
        )
        self.period_edit = QLineEdit()
        self.period_edit.setPlaceholderText("e.g. 314" if need_period else "(from the file)")
        if spacing_mm is not None:
            sp = spacing_mm if isinstance(spacing_mm, tuple) else (spacing_mm,)
            self.spacing_edit.setText(", ".join(f"{v:g}" for v in sp))
        if frame_period_s is not None:
            self.period_edit.setText(f"{frame_period_s * 1e3:g}")
        form.addRow("Pixel spacing (mm)" + (" *" if need_spacing else ""), self.spacing_edit)
        form.addRow("Frame period (ms)" + (" *" if need_period else ""), self.period_edit)
        layout.addLayout(form)
        self.error_label = QLabel("")
        self.error_label.setStyleSheet("color: #b00020")
        self.error_label.setWordWrap(True)
        layout.addWidget(self.error_label)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._try_accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.spacing_mm: float | tuple[float, ...] | None = None
        self.frame_period_s: float | None = None

    @staticmethod
    def needs_from_message(message: str) -> tuple[bool, bool]:
        """``(need_spacing, need_period)`` guessed from a loader's message (both if unclear)."""
        m = message.lower()
        spacing = "spacing" in m or "pixel size" in m
        period = "period" in m or "time" in m or "rate" in m
        if not (spacing or period):
            return True, True
        return spacing, period

    def values(self) -> tuple[float | tuple[float, ...] | None, float | None]:
        """Parse the fields: ``(spacing_mm, frame_period_s)``; raise on invalid input."""
        spacing: float | tuple[float, ...] | None = None
        period: float | None = None
        st = self.spacing_edit.text().strip()
        pt = self.period_edit.text().strip()
        if st:
            vals = parse_positive_floats(st, "pixel spacing")
            spacing = vals[0] if len(vals) == 1 else vals
        elif self.need_spacing:
            raise ConfigurationError("the pixel spacing is required")
        if pt:
            vals = parse_positive_floats(pt, "frame period")
            if len(vals) != 1:
                raise ConfigurationError("frame period: give one value in ms")
            period = vals[0] / 1e3
        elif self.need_period:
            raise ConfigurationError("the frame period is required")
        return spacing, period

    def _try_accept(self) -> None:
        try:
            self.spacing_mm, self.frame_period_s = self.values()
        except ConfigurationError as exc:
            self.error_label.setText(str(exc))
            return
        self.accept()


class CinePhantomParameters(TypedDict):
    """Keyword arguments of ``motionpredict.phantom.make_cine`` chosen in :class:`PhantomDialog`."""

    seed: int
    n_frames: int
    frame_period_s: float
    shape: tuple[int, int]
    spacing_mm: tuple[float, float]


class PhantomDialog(QDialog):
    """Parameters of a synthetic cine phantom (``motionpredict.phantom.make_cine``)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New phantom")
        form = QFormLayout(self)
        self.seed = QSpinBox()
        self.seed.setRange(0, 1_000_000)
        self.n_frames = QSpinBox()
        self.n_frames.setRange(10, 5000)
        self.n_frames.setValue(120)
        self.period_ms = QDoubleSpinBox()
        self.period_ms.setRange(10.0, 5000.0)
        self.period_ms.setDecimals(1)
        self.period_ms.setValue(250.0)
        self.period_ms.setSuffix(" ms")
        self.size_px = QSpinBox()
        self.size_px.setRange(32, 512)
        self.size_px.setValue(128)
        self.size_px.setSuffix(" px")
        self.spacing_mm = QDoubleSpinBox()
        self.spacing_mm.setRange(0.1, 10.0)
        self.spacing_mm.setValue(2.0)
        self.spacing_mm.setSuffix(" mm")
        form.addRow("Seed", self.seed)
        form.addRow("Frames", self.n_frames)
        form.addRow("Frame period", self.period_ms)
        form.addRow("Frame size (square)", self.size_px)
        form.addRow("Pixel spacing", self.spacing_mm)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def parameters(self) -> CinePhantomParameters:
        """Keyword arguments for ``make_cine`` (frame period in s, spacing in mm)."""
        n = self.size_px.value()
        sp = self.spacing_mm.value()
        return {
            "seed": self.seed.value(),
            "n_frames": self.n_frames.value(),
            "frame_period_s": self.period_ms.value() / 1e3,
            "shape": (n, n),
            "spacing_mm": (sp, sp),
        }
