"""The main window: controls on the left, the three frame views, plots and the latency panel.

The window renders a :class:`~motionpredict.viewer_model.ViewerModel` and sends it commands; all
computation (loading, pipeline preparation, frame processing, exports) runs in the worker thread
(:mod:`motionpredict.gui.worker`). Replay is paced like a live acquisition: frame ``t + 1`` is
requested ``T / speed`` after frame ``t`` was requested (``T`` = frame period), or as soon as the
previous frame is done when the computation is slower; the requested and effective rates are shown.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QColor, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from motionpredict.errors import ConfigurationError, MissingMetadataError
from motionpredict.forecasters import MODES, available
from motionpredict.sequences import ImageSequence, PointTrajectories
from motionpredict.viewer_model import (
    COMPARE_MODES,
    FIELD_DISPLAYS,
    TOP_PLOTS,
    FrameOutput,
    ModelEvent,
    PipelineFactory,
    Prepared,
    ReplayClock,
    ViewerModel,
    method_color,
    roi_from_provenance,
    roi_slices_from_provenance,
    settings_from_evaluation_config,
    window_presets,
)

from .dialogs import MetadataDialog, PhantomDialog, gui_wording, show_error
from .latency_panel import LatencyPanel
from .ortho_views import OrthoViews
from .plots import PlotPanel
from .review_views import COLOUR_MAPS, ReviewViews
from .views import FrameViews
from .worker import WorkerThread, describe_error

MAX_RECENT = 8
IMAGE_EXPORT_FILTER = (
    "MetaImage (*.mha);;NIfTI (*.nii.gz);;NRRD sequence (*.seq.nrrd);;DICOM folder (*)"
)
#: GIL switch interval while the window lives, s (Python's default is 0.005).
GUI_SWITCH_INTERVAL_S = 0.001


class MainWindow(QMainWindow):
    """The desktop application's window.

    Parameters
    ----------
    model
        The state to render (a new :class:`ViewerModel` by default).
    settings
        Where recent files are remembered (the user's ``QSettings`` by default).
    pipeline_factory
        Pipeline constructor handed to :meth:`ViewerModel.create_processor` (the real
        ``OnlineFramePipeline`` by default).
    """

    def __init__(
        self,
        model: ViewerModel | None = None,
        *,
        settings: QSettings | None = None,
        pipeline_factory: PipelineFactory | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("motionpredict")
        self.setAcceptDrops(True)
        self.model = model or ViewerModel()
        self.qsettings = settings or QSettings("motionpredict", "motionpredict-gui")
        self.pipeline_factory = pipeline_factory
        # The worker and plot threads hold the GIL while they compute; a short switch interval
        # (default 5 ms) lets the GUI thread take it back quickly so the interface never stalls.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)
        self.worker_thread = WorkerThread()
        self.worker = self.worker_thread.worker
        self.generation = 0
        self.busy = False
        self.pending: str | None = None  # what the worker is doing: load, prepare, frame, export
        self.run_to: int | None = None  # process frames up to this index without pacing
        self.play_after_prepare = False
        self.last_request_s = 0.0
        self.last_render_ms = 0.0
        self.last_error: QMessageBox | None = None
        self.metadata_dialog: MetadataDialog | None = None
        self._task_done: Callable[[Any], None] | None = None
        self._syncing = False

        self.views = FrameViews(self.model)
        self.ortho = OrthoViews(self.model)
        self.view_tabs = QTabWidget()
        self.view_tabs.addTab(self.views, "Frames")
        self.view_tabs.addTab(self.ortho, "Orthogonal slices (3D)")
        # linked zoom/pan in mm, colour maps, colour bar, scale bar, cursor read-out (pyqtgraph)
        self.review = ReviewViews(self.model)
        self.view_tabs.addTab(self.review, "Review (zoom, cursor, mm)")
        self.view_tabs.currentChanged.connect(lambda _i: self._render_views())
        self.plots = PlotPanel(self.model)
        self.plots.seek_time.connect(self.seek_time)
        self.latency = LatencyPanel(self.model)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.plots)
        bottom.addWidget(self.latency)
        bottom.setStretchFactor(0, 3)
        bottom.setStretchFactor(1, 2)
        central = QSplitter(Qt.Orientation.Vertical)
        central.addWidget(self.view_tabs)
        central.addWidget(bottom)
        central.setStretchFactor(0, 3)
        central.setStretchFactor(1, 2)
        central.setSizes([560, 380])
        bottom.setSizes([780, 520])
        self.setCentralWidget(central)
        self._build_controls()
        self._build_menus()
        self.rate_label = QLabel("")
        self.statusBar().addPermanentWidget(self.rate_label)
        # Lucas-Kanade parameters of the pipelines and the training frames made worse
        self.registration_label = QLabel("")
        self.statusBar().addPermanentWidget(self.registration_label)
        self._processor: Any = None

        self.tick_timer = QTimer(self)
        self.tick_timer.setSingleShot(True)
        # a coarse timer fires up to 5 % late: precise, and scheduled against an absolute clock
        self.tick_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.replay_clock = ReplayClock(1.0)
        # once every frame is processed, Play loops over the results (a cine loop)
        self.looping = False
        self.loop_timer = QTimer(self)
        self.loop_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.loop_timer.timeout.connect(self._loop_step)
        self._metadata_given: tuple[str, Any, Any] | None = None  # (path, spacing, period)
        self.tick_timer.timeout.connect(self._request_frame)

        w = self.worker
        w.prepared.connect(self._on_prepared)
        w.frame_ready.connect(self._on_frame_ready)
        w.task_done.connect(self._on_task_done)
        w.progress.connect(self._on_progress)
        w.failed.connect(self._on_failed)

        ev = self.model.events
        ev.position.connect(self._on_position)
        ev.sequence.connect(self._on_sequence)
        ev.settings.connect(self._on_settings)
        ev.results_cleared.connect(self._on_results_cleared)
        ev.display.connect(self._on_display)
        ev.playing.connect(self._on_playing)
        ev.status.connect(lambda e: self.statusBar().showMessage(str(e.value), 8000))
        for v in (*self.views.views(), *self.ortho.views()):
            v.wheel_steps.connect(self.model.step)
            v.window_drag.connect(self._drag_window)
        self._sync_controls()
        self._render_views()
        self.latency.refresh()

    # ================================================================== construction
    def _build_controls(self) -> None:
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(6, 6, 6, 6)

        seq_box = QGroupBox("Sequence")
        sl = QVBoxLayout(seq_box)
        self.source_label = QLabel("Open a sequence: File menu, drag and drop, or New phantom.")
        self.source_label.setWordWrap(True)
        sl.addWidget(self.source_label)
        layout.addWidget(seq_box)

        pred_box = QGroupBox("Prediction")
        form = QFormLayout(pred_box)
        self.method_list = QListWidget()
        self.method_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        for name in available():
            item = QListWidgetItem(name)
            item.setForeground(QColor(method_color(name)))  # the method's colour in the plots
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.method_list.addItem(item)
        self.method_list.setMaximumHeight(110)
        self.method_list.itemChanged.connect(self._apply_settings)
        form.addRow(QLabel("Methods (the first checked in the list is shown)"))
        form.addRow(self.method_list)
        self.horizon_radio = QRadioButton("Horizon")
        self.latency_radio = QRadioButton("Compensate latency")
        group = QButtonGroup(self)
        group.addButton(self.horizon_radio)
        group.addButton(self.latency_radio)
        self.horizon_radio.setChecked(True)
        self.horizon_ms = QDoubleSpinBox()
        self.horizon_ms.setRange(1.0, 10_000.0)
        self.horizon_ms.setDecimals(0)
        self.horizon_ms.setSuffix(" ms")
        self.horizon_ms.setValue(250.0)
        self.latency_ms = QDoubleSpinBox()
        self.latency_ms.setRange(1.0, 10_000.0)
        self.latency_ms.setDecimals(0)
        self.latency_ms.setSuffix(" ms")
        self.latency_ms.setValue(200.0)
        form.addRow(self.horizon_radio, self.horizon_ms)
        form.addRow(self.latency_radio, self.latency_ms)
        self.horizon_info = QLabel("")
        self.horizon_info.setWordWrap(True)
        form.addRow(self.horizon_info)
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(list(MODES))
        self.mode_combo.setToolTip(
            "causal: learn from a target only once acquired (clinically valid); reference: "
            "published look-ahead behaviour"
        )
        form.addRow("Mode", self.mode_combo)
        self.ncomp_spin = QSpinBox()
        self.ncomp_spin.setRange(1, 8)
        form.addRow("PCA components", self.ncomp_spin)
        self.train_spin = QSpinBox()
        self.train_spin.setRange(0, 100_000)
        self.train_spin.setSpecialValueText("auto")
        self.train_spin.setToolTip("frames used to fit the motion model (auto: card or 45 %)")
        form.addRow("Training frames", self.train_spin)
        self.horizon_radio.toggled.connect(self._apply_settings)
        self.horizon_ms.editingFinished.connect(self._apply_settings)
        self.latency_ms.editingFinished.connect(self._apply_settings)
        self.mode_combo.currentIndexChanged.connect(self._apply_settings)
        self.ncomp_spin.editingFinished.connect(self._apply_settings)
        self.train_spin.editingFinished.connect(self._apply_settings)
        layout.addWidget(pred_box)

        replay_box = QGroupBox("Replay")
        rl = QVBoxLayout(replay_box)
        buttons = QHBoxLayout()
        self.back_button = QPushButton("◀ Step")
        self.play_button = QPushButton("▶ Play")
        self.step_button = QPushButton("Step ▶")
        for b in (self.back_button, self.play_button, self.step_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            buttons.addWidget(b)
        self.back_button.clicked.connect(lambda: self.model.step(-1))
        self.play_button.clicked.connect(self.toggle_play)
        self.step_button.clicked.connect(self.step_forward)
        rl.addLayout(buttons)
        jf = QFormLayout()
        jump_row = QHBoxLayout()
        self.jump_spin = QSpinBox()
        self.jump_spin.setRange(0, 0)
        self.jump_button = QPushButton("Go")
        self.jump_button.clicked.connect(lambda: self.jump_to(self.jump_spin.value()))
        jump_row.addWidget(self.jump_spin, 1)
        jump_row.addWidget(self.jump_button)
        jf.addRow("Jump to frame", jump_row)
        self.speed_spin = QDoubleSpinBox()
        self.speed_spin.setRange(0.1, 20.0)
        self.speed_spin.setSingleStep(0.5)
        self.speed_spin.setValue(1.0)
        self.speed_spin.setSuffix(" ×")
        self.speed_spin.valueChanged.connect(self._apply_speed)
        jf.addRow("Speed", self.speed_spin)
        rl.addLayout(jf)
        self.frame_label = QLabel("")
        self.frame_label.setWordWrap(True)
        rl.addWidget(self.frame_label)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        rl.addWidget(self.progress)
        layout.addWidget(replay_box)

        summary_box = QGroupBox("Error so far (mm)")
        sbl = QVBoxLayout(summary_box)
        self.summary_label = QLabel("")
        self.summary_label.setTextFormat(Qt.TextFormat.RichText)
        # never widen the controls (the dock does not scroll sideways)
        self.summary_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                         QSizePolicy.Policy.Preferred)
        self.summary_label.setToolTip(
            "mean and 95th percentile of the geometric error in mm (field error over the ROI, or "
            "marker distance); vs none: error reduction against no prediction on the same "
            "targets; guarded: forecasts the plausibility guard replaced")
        sbl.addWidget(self.summary_label)
        layout.addWidget(summary_box)

        disp_box = QGroupBox("Display")
        df = QFormLayout(disp_box)
        self.compare_combo = QComboBox()
        self.compare_combo.addItems(list(COMPARE_MODES))
        self.compare_combo.currentTextChanged.connect(lambda s: self._set_display(compare=s))
        df.addRow("Check view", self.compare_combo)
        self.field_combo = QComboBox()
        self.field_combo.addItems(list(FIELD_DISPLAYS))
        self.field_combo.currentTextChanged.connect(lambda s: self._set_display(field=s))
        df.addRow("Field overlay", self.field_combo)
        self.contour_check = QCheckBox("Tumour contour and ROI")
        self.contour_check.toggled.connect(lambda b: self._set_display(show_contours=b))
        df.addRow(self.contour_check)
        self.window_spin = QDoubleSpinBox()
        self.level_spin = QDoubleSpinBox()
        for s in (self.window_spin, self.level_spin):
            s.setRange(-1e9, 1e9)
            s.setDecimals(3)
            s.editingFinished.connect(self._apply_window)
        self.window_spin.setMinimum(1e-6)
        df.addRow("Window", self.window_spin)
        df.addRow("Level", self.level_spin)
        self.preset_combo = QComboBox()
        self.preset_combo.addItem("Window/level preset…")
        self.preset_combo.addItems(["auto (1-99 %)", "full range", "high contrast (10-90 %)"])
        self.preset_combo.activated.connect(lambda i: self.apply_preset(
            self.preset_combo.itemText(i)) if i > 0 else None)
        df.addRow("Preset", self.preset_combo)
        self.cmap_combo = QComboBox()
        self.cmap_combo.addItems(list(COLOUR_MAPS))
        self.cmap_combo.currentTextChanged.connect(self.review.set_colour_map)
        df.addRow("Colour map", self.cmap_combo)
        self.top_plot_combo = QComboBox()
        self.top_plot_combo.addItems(list(TOP_PLOTS))
        self.top_plot_combo.setToolTip(
            "displacement: the target's mean displacement in mm (tumour, ROI or frame), measured "
            "and predicted; weights: the PCA weights")
        self.top_plot_combo.currentTextChanged.connect(lambda s: self._set_display(top_plot=s))
        df.addRow("Top plot", self.top_plot_combo)
        self.reset_zoom_button = QPushButton("Reset zoom")
        self.reset_zoom_button.clicked.connect(self.review.reset_zoom)
        df.addRow(self.reset_zoom_button)
        self.slice_spin = QSpinBox()
        self.slice_spin.valueChanged.connect(lambda v: self._set_display(slice_index=v))
        df.addRow("Slice (3D)", self.slice_spin)
        layout.addWidget(disp_box)
        layout.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidget(panel)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        dock = QDockWidget("Controls", self)
        dock.setObjectName("controls")
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        dock.setWidget(scroll)
        dock.setMinimumWidth(310)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.controls_dock = dock

    def _build_menus(self) -> None:
        bar = self.menuBar()
        fm = bar.addMenu("&File")
        self._action(fm, "&Open file…", QKeySequence.StandardKey.Open, self.open_file_dialog)
        self._action(fm, "Open &folder (DICOM, markers)…", "Ctrl+Shift+O", self.open_folder_dialog)
        self._action(fm, "&New phantom…", QKeySequence.StandardKey.New, self.new_phantom_dialog)
        self.recent_menu = fm.addMenu("&Recent")
        self._update_recent_menu()
        fm.addSeparator()
        self._action(fm, "Load settings from an evaluation config…", None, self.load_eval_dialog)
        fm.addSeparator()
        self._action(fm, "Export &predicted series…", "Ctrl+E", self.export_predicted_dialog)
        self._action(fm, "Export plots (PNG)…", "Ctrl+Shift+P", self.export_plots_dialog)
        self._action(fm, "Export &report…", "Ctrl+R", self.export_report_dialog)
        fm.addSeparator()
        self._action(fm, "&Quit", QKeySequence.StandardKey.Quit, self.close)
        rm = bar.addMenu("&Replay")
        self._action(rm, "Play / pause", "Space", self.toggle_play)
        self._action(rm, "Step forward", "Right", self.step_forward)
        self._action(rm, "Step back", "Left", lambda: self.model.step(-1))
        self._action(rm, "First replayed frame", "Home", self.go_first)
        self._action(rm, "Newest frame", "End", lambda: self.model.set_position(self.model.newest))
        self._action(rm, "Faster (×2)", "]", lambda: self.speed_spin.setValue(self.model.speed * 2))
        self._action(rm, "Slower (÷2)", "[", lambda: self.speed_spin.setValue(self.model.speed / 2))
        hm = bar.addMenu("&Help")
        self._action(hm, "Keyboard shortcuts", "F1", self.show_shortcuts)

    def _action(self, menu: Any, text: str, shortcut: Any, slot: Callable[[], Any]) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.triggered.connect(lambda _checked=False: slot())
        menu.addAction(act)
        self.addAction(act)
        return act

    # ================================================================== model -> widgets
    def _sync_controls(self) -> None:
        """Set the controls from the model without triggering settings changes."""
        self._syncing = True
        try:
            s = self.model.settings
            for i in range(self.method_list.count()):
                item = self.method_list.item(i)
                item.setCheckState(
                    Qt.CheckState.Checked if item.text() in s.methods else Qt.CheckState.Unchecked
                )
            if s.system_latency_ms is not None:
                self.latency_radio.setChecked(True)
                self.latency_ms.setValue(s.system_latency_ms)
            else:
                self.horizon_radio.setChecked(True)
                if s.horizon_ms is not None:
                    self.horizon_ms.setValue(s.horizon_ms)
            self.mode_combo.setCurrentText(s.mode)
            self.ncomp_spin.setValue(s.n_components)
            self.train_spin.setValue(s.train_frames or 0)
            d = self.model.display
            self.compare_combo.setCurrentText(d.compare)
            self.field_combo.setCurrentText(d.field)
            self.top_plot_combo.setCurrentText(d.top_plot)
            self.contour_check.setChecked(d.show_contours)
            self.window_spin.setValue(d.window)
            self.level_spin.setValue(d.level)
            seq = self.model.image_sequence  # None for marker trajectories: no slices
            last_slice = seq.shape[0] - 1 if seq is not None and seq.ndim == 3 else None
            self.slice_spin.setEnabled(last_slice is not None)
            self.slice_spin.setRange(0, last_slice or 0)
            self.slice_spin.setValue(d.slice_index)
            self.speed_spin.setValue(self.model.speed)
        finally:
            self._syncing = False
        self._update_horizon_info()

    def _update_horizon_info(self) -> None:
        m = self.model
        if m.sequence is None:
            self.horizon_info.setText("")
            return
        k = m.horizon_steps
        text = f"= {k} frame(s) × {m.frame_period_s * 1e3:.1f} ms = {m.horizon_ms:.0f} ms"
        if m.budget_ms is not None:
            text += f"; computation budget {m.budget_ms:.0f} ms"
        self.horizon_info.setText(text)

    def _on_sequence(self, event: ModelEvent) -> None:
        seq = self.model.sequence
        assert seq is not None
        prov = seq.provenance
        if isinstance(seq, PointTrajectories):
            self.source_label.setText(
                f"<b>{Path(self.model.source).name or self.model.source}</b><br>"
                f"{seq.n_points} markers ({', '.join(seq.names or ())}), {seq.n_samples} "
                f"samples<br>sample period {seq.sample_period * 1e3:.1f} ms<br>"
                "no images: the plots show the z coordinates"
            )
            self.setWindowTitle(f"motionpredict — {self.model.source}")
            self._set_image_mode(False)
            self._sync_controls()
            self._reset_run()
            return
        self.source_label.setText(
            f"<b>{Path(self.model.source).name or self.model.source}</b><br>"
            f"{seq.n_frames} frames, {' × '.join(map(str, seq.shape))} px<br>"
            f"spacing {', '.join(f'{v:g}' for v in seq.spacing)} mm "
            f"({prov.spacing_source or 'source not recorded'})<br>"
            f"frame period {seq.frame_period * 1e3:.1f} ms "
            f"({prov.frame_period_source or 'source not recorded'})"
            + (
                "<br><span style='color:#b06000'>" + "<br>".join(prov.warnings) + "</span>"
                if prov.warnings
                else ""
            )
        )
        self.setWindowTitle(f"motionpredict — {self.model.source}")
        self._set_image_mode(True)
        self.view_tabs.setTabEnabled(1, self.model.has_ortho)
        # a 4DCT with a tumour: its orthogonal slices with the contours first; otherwise the
        # review views (zoom, cursor, mm)
        show_ortho = self.model.has_ortho and self.model.tumour_mask is not None
        self.view_tabs.setCurrentWidget(self.ortho if show_ortho else self.review)
        self._sync_controls()
        self._reset_run()

    def _set_image_mode(self, images: bool) -> None:
        """Marker trajectories have no images: hide the image panes, disable image controls."""
        self.view_tabs.setVisible(images)
        for w in (self.compare_combo, self.field_combo, self.contour_check, self.window_spin,
                  self.level_spin, self.preset_combo, self.cmap_combo, self.reset_zoom_button,
                  self.ncomp_spin, self.top_plot_combo):
            w.setEnabled(images)

    def _render_views(self) -> None:
        """Draw the frame views, and the orthogonal slices or review views when shown."""
        self.views.render_model()
        if self.view_tabs.currentWidget() is self.ortho:
            self.ortho.render_model()
        elif self.view_tabs.currentWidget() is self.review:
            self.review.render_model()

    def apply_preset(self, name: str) -> None:
        """Set the window/level of a preset (:func:`motionpredict.viewer_model.window_presets`)."""
        seq = self.model.image_sequence
        if seq is None:
            return
        window, level = window_presets(seq.frames)[name]
        self.model.set_display(window=window, level=level)
        self.preset_combo.setCurrentIndex(0)

    def seek_time(self, time_s: float) -> None:
        """Show the processed frame nearest to ``time_s`` (a click on the plots)."""
        t = self.model.time_to_frame(time_s)
        if t is not None:
            self.pause()
            self.model.set_position(t)

    def _on_settings(self, event: ModelEvent) -> None:
        self._update_horizon_info()

    def _on_results_cleared(self, event: ModelEvent) -> None:
        self._reset_run()

    def _reset_run(self) -> None:
        """Forget everything in flight: answers to older requests will be ignored."""
        if self.pending == "prepare":
            self.worker.cancel()
        self.generation += 1
        self.busy = False
        self.pending = None
        self.run_to = None
        self.play_after_prepare = False
        self.looping = False
        self.loop_timer.stop()
        self._update_play_button()
        self.tick_timer.stop()
        self.progress.setVisible(False)
        self.jump_spin.setRange(0, max(0, self.model.n_frames - 1))
        self._render_views()
        self.latency.refresh()
        self.plots.refresh(force=True)
        self._update_labels()

    def _on_position(self, event: ModelEvent) -> None:
        t0 = time.perf_counter()
        self._render_views()
        self.last_render_ms = (time.perf_counter() - t0) * 1e3
        self.plots.refresh()
        self._update_labels()

    def _on_display(self, event: ModelEvent) -> None:
        if event.value == "top_plot":
            self.plots.refresh()
            return
        if event.value in ("window", "level"):
            self._syncing = True
            self.window_spin.setValue(self.model.display.window)
            self.level_spin.setValue(self.model.display.level)
            self._syncing = False
        self._render_views()

    def _on_playing(self, event: ModelEvent) -> None:
        self._update_play_button()

    def _update_play_button(self) -> None:
        """Pause while playing or preparing to play; Play otherwise."""
        running = self.model.playing or self.play_after_prepare or self.looping
        self.play_button.setText("❚❚ Pause" if running else "▶ Play")

    def _update_labels(self) -> None:
        m = self.model
        if m.sequence is None:
            self.frame_label.setText("")
            self.rate_label.setText("")
            return
        first = "-" if m.first_frame is None else str(m.first_frame)
        ng, ni = m.guarded_count()
        guard = f"; guarded forecasts {ng} of {ni}" if ng else ""  # plausibility guard fallbacks
        warm = "".join(
            f"; {name} warming up (last value) for {left} more sample(s)"
            for name, left in m.warming_up.items()
        )
        self.frame_label.setText(
            f"frame {max(m.position, 0)} shown; newest acquired {max(m.newest, -1)} of "
            f"{m.n_frames - 1}; replay starts at {first}{guard}{warm}"
        )
        self._update_summary()
        eff = m.effective_fps
        eff_text = "–" if eff != eff else f"{eff:.2f}"
        self.rate_label.setText(
            f"requested {m.requested_fps:.2f} frames/s (×{m.speed:g}); effective {eff_text} "
            "frames/s"
        )

    def _update_summary(self) -> None:
        """The live per-method error table (``ViewerModel.method_summary``)."""
        rows = self.model.method_summary() if self.model.first_frame is not None else []
        if not rows:
            self.summary_label.setText("no prediction checked yet")
            return
        cells = ["<tr><th align=left>method</th><th>n</th><th>mean</th><th>p95</th>"
                 "<th>vs none</th><th>guard</th></tr>"]
        for r in rows:
            mean = "–" if r["n"] == 0 else f"{r['mean_mm']:.2f}"
            p95 = "–" if r["n"] == 0 else f"{r['p95_mm']:.2f}"
            gain = "" if r["gain"] is None else f"{100 * r['gain']:+.0f} %"
            cells.append(
                f"<tr><td style='color:{method_color(r['method'])}'>{r['method']}</td>"
                f"<td align=right>{r['n']}</td><td align=right>{mean}</td>"
                f"<td align=right>{p95}</td><td align=right>{gain}</td>"
                f"<td align=right>{r['guarded']}</td></tr>")
        self.summary_label.setText("<table cellspacing=2 style='font-size:small'>"
                                   + "".join(cells) + "</table>error in mm")

    # ================================================================== widgets -> model
    def _apply_settings(self, *args: object) -> None:
        if self._syncing:
            return
        methods = tuple(
            self.method_list.item(i).text()
            for i in range(self.method_list.count())
            if self.method_list.item(i).checkState() == Qt.CheckState.Checked
        )
        # list order: the first checked method in the list is the one shown (an order set by
        # --method or an evaluation config stays until the checked methods change)
        if set(methods) == set(self.model.settings.methods):
            methods = self.model.settings.methods
        latency = self.latency_radio.isChecked()
        changes = {
            "methods": methods,
            "horizon_ms": None if latency else self.horizon_ms.value(),
            "system_latency_ms": self.latency_ms.value() if latency else None,
            "mode": self.mode_combo.currentText(),
            "n_components": self.ncomp_spin.value(),
            "train_frames": self.train_spin.value() or None,
        }
        s = self.model.settings
        if all(getattr(s, k) == v for k, v in changes.items()):
            return
        was_playing = self.model.playing or self.play_after_prepare
        try:
            self.model.update_settings(**changes)
        except ConfigurationError as exc:
            self.report_error("Invalid settings", exc)
            self._sync_controls()
            return
        if was_playing:  # a change during replay: prepare the new pipelines and go on playing
            self.play()

    def _set_display(self, **changes: Any) -> None:
        if self._syncing:
            return
        try:
            self.model.set_display(**changes)
        except ConfigurationError as exc:
            self.report_error("Invalid display option", exc)

    def _apply_window(self) -> None:
        self._set_display(window=self.window_spin.value(), level=self.level_spin.value())

    def _drag_window(self, dx: float, dy: float) -> None:
        d = self.model.display
        window = max(d.window * (1.0 + dx / 200.0), 1e-6)
        level = d.level - dy * d.window / 200.0
        self.model.set_display(window=window, level=level)

    def _apply_speed(self, value: float) -> None:
        if self._syncing:
            return
        self.model.set_speed(value)
        if self.model.playing:
            self.replay_clock.start(self.model.frame_period_s / self.model.speed)
        if self.looping:
            self.loop_timer.start(max(1, round(1000 * self.model.frame_period_s / value)))
        self._update_labels()

    # ================================================================== opening
    def open_file_dialog(self) -> None:
        """Ask for a DICOM/MHA/NIfTI/NRRD file and open it."""
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open a sequence",
            "",
            "Sequences (*.dcm *.IMA *.mha *.mhd *.nii *.nii.gz *.nrrd);;All files (*)",
        )
        if path:
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        """Ask for a folder (DICOM series, dataset folder with its card, marker CSVs)."""
        path = QFileDialog.getExistingDirectory(self, "Open a sequence folder")
        if path:
            self.open_path(path)

    def open_path(
        self,
        path: str | Path,
        *,
        spacing_mm: float | tuple[float, ...] | None = None,
        frame_period_s: float | None = None,
    ) -> None:
        """Load ``path`` with ``motionpredict.io.load`` in the worker thread, then show it."""
        path = Path(path)
        self.model.set_playing(False)
        self._reset_run()
        self._metadata_given = (str(path), spacing_mm, frame_period_s)
        self.statusBar().showMessage(f"loading {path}…")

        def load() -> Any:
            from motionpredict.io import load as io_load

            return io_load(path, spacing_mm=spacing_mm, frame_period_s=frame_period_s)

        def done(value: Any) -> None:
            self._show_loaded(value, str(path))
            self._add_recent(str(path))

        self._run_task("load", load, done, path=path)

    def new_phantom_dialog(self) -> None:
        """Ask for phantom parameters and generate it."""
        dlg = PhantomDialog(self)
        if dlg.exec():
            self.open_phantom(**dlg.parameters())

    def open_phantom(self, kind: str = "cine", **params: Any) -> None:
        """Generate a phantom in the worker thread: ``kind="cine"``
        (``motionpredict.phantom.make_cine``) or ``"ct4d"`` (``make_ct4d``, a 3D volume series
        shown with orthogonal slices)."""
        self.model.set_playing(False)
        self._reset_run()

        def make() -> Any:
            from motionpredict.phantom import make_cine, make_ct4d

            if kind not in ("cine", "ct4d"):
                raise ConfigurationError(f"phantom kind must be cine or ct4d, got {kind!r}")
            return (make_cine if kind == "cine" else make_ct4d)(**params)

        seed = params.get("seed", 0)
        self._run_task("load", make, lambda ph: self._show_loaded(ph, f"phantom (seed {seed})"))

    def _show_loaded(self, value: Any, source: str) -> None:
        mask = getattr(value, "tumour_mask", None)
        seq = getattr(value, "sequence", value)
        if isinstance(seq, PointTrajectories):
            self.model.set_sequence(seq, source=source)
            self.statusBar().showMessage(f"opened {source} (markers: plots only)", 8000)
            return
        if not isinstance(seq, ImageSequence):
            raise ConfigurationError(f"{source}: not an image sequence")
        roi = roi_from_provenance(seq)
        self.model.set_sequence(seq, source=source, tumour_mask=mask, roi=roi,
                                roi_slices=roi_slices_from_provenance(seq))
        self.statusBar().showMessage(f"opened {source}", 8000)

    def _run_task(
        self,
        kind: str,
        task: Callable[[], Any],
        done: Callable[[Any], None],
        *,
        path: Path | None = None,
    ) -> None:
        self.pending = kind
        self.busy = True
        self._task_path = path
        self._task_done = done
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.worker.run_task(self.generation, task)

    def _on_task_done(self, generation: int, value: object) -> None:
        if generation != self.generation:
            return
        self.busy = False
        self.pending = None
        self.progress.setVisible(False)
        done, self._task_done = self._task_done, None
        if done is not None:
            try:
                done(value)
            except Exception as exc:
                self.report_error("Cannot open", exc)
        self._continue()

    def _add_recent(self, path: str) -> None:
        recent = [p for p in self.recent_files() if p != path]
        recent.insert(0, path)
        self.qsettings.setValue("recent", recent[:MAX_RECENT])
        self.qsettings.sync()
        self._update_recent_menu()

    def recent_files(self) -> list[str]:
        """Recently opened paths, newest first."""
        value = self.qsettings.value("recent", [])
        if isinstance(value, str):  # an INI file holding one path reads back as a string
            return [value]
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else []

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        if not files:
            a = self.recent_menu.addAction("(none)")
            a.setEnabled(False)
        for p in files:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _c=False, p=p: self.open_path(p))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_path(urls[0].toLocalFile())
            event.acceptProposedAction()

    def load_eval_dialog(self) -> None:
        """Ask for an evaluation TOML and take its methods, horizon, mode, components."""
        path, _ = QFileDialog.getOpenFileName(self, "Evaluation configuration", "", "TOML (*.toml)")
        if path:
            self.load_evaluation_settings(path)

    def load_evaluation_settings(self, path: str | Path) -> None:
        """Apply the settings of an evaluation configuration (first horizon, mode, ...)."""
        try:
            changes = settings_from_evaluation_config(path)
            self.model.update_settings(**changes)
        except Exception as exc:
            self.report_error("Cannot load settings", exc)
            return
        self._sync_controls()
        self.statusBar().showMessage(f"settings from {path}", 8000)

    # ================================================================== replay
    def _prepare(self) -> None:
        if self.model.sequence is None or self.busy:
            return
        try:
            processor = self.model.create_processor(self.pipeline_factory)
        except Exception as exc:
            self.report_error("Cannot prepare", exc)
            return
        self._processor = processor
        self.busy = True
        self.pending = "prepare"
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.statusBar().showMessage("registering the training frames and fitting the model…")
        self.worker.request_prepare(self.generation, processor)

    def _on_progress(self, generation: int, done: int, total: int) -> None:
        if generation == self.generation:
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)

    def _on_prepared(self, generation: int, prepared: Prepared) -> None:
        if generation != self.generation:
            return
        self.busy = False
        self.pending = None
        self.progress.setVisible(False)
        self.model.begin(prepared)
        self.show_registration()
        self.statusBar().showMessage(
            f"ready: frames 0..{prepared.first_frame - 1} trained the model; replay starts at "
            f"frame {prepared.first_frame}",
            8000,
        )
        self.latency.refresh()
        self.plots.refresh(force=True)
        self._update_labels()
        if self.play_after_prepare:
            self.play_after_prepare = False
            self.play()
        else:
            self._continue()

    def show_registration(self) -> None:
        """Show the Lucas-Kanade parameters of the prepared pipelines and the quality flag of
        their training frames (frames the registration made worse) in the status bar."""
        text, tip = "", ""
        try:
            pipes = getattr(self._processor, "pipelines", None) or {}
            pipe = next(iter(pipes.values()), None)
            lk = getattr(pipe, "_lk", None)
            fields = getattr(pipe, "training_fields_mm", None)
            seq = self.model.sequence
            if callable(lk) and fields is not None and isinstance(seq, ImageSequence):
                from motionpredict.registration import frames_made_worse

                d = lk().as_dict()
                worse = [int(t) for t, bad in
                         enumerate(frames_made_worse(seq.frames, fields, seq.spacing)) if bad]
                text = (f"LK σ {d['sigma_lk']:g} px, {d['levels']} levels × {d['iterations']}, "
                        f"intensity {d['intensity']}; training frames made worse: {len(worse)}")
                tip = ("Lucas-Kanade parameters: "
                       + ", ".join(f"{k}={v}" for k, v in d.items())
                       + "\nframes made worse by the registration (registered RMSE above "
                       "unregistered): " + (", ".join(map(str, worse)) or "none"))
        except Exception as exc:  # display only: never stop the replay
            text, tip = "", f"registration summary unavailable: {exc}"
        self.registration_label.setText(text)
        self.registration_label.setToolTip(tip)

    @property
    def prepared(self) -> bool:
        """True once the pipelines of the current settings are ready."""
        return self.model.first_frame is not None

    def play(self) -> None:
        """Start the live replay (preparing the pipelines first when needed)."""
        m = self.model
        if m.sequence is None:
            return
        if not self.prepared:
            self.play_after_prepare = True
            self._update_play_button()
            self._prepare()
            return
        if m.newest >= m.n_frames - 1:
            self.start_loop()
            return
        m.set_position(m.newest)
        # objects alive now (sequence, pipelines, widgets) stay: keep them out of the cyclic
        # garbage collector, whose full passes over them could pause every thread for 100s of ms
        gc.freeze()
        m.set_playing(True)
        m.record_tick()
        self.replay_clock.start(m.frame_period_s / m.speed)
        self._continue()

    def pause(self) -> None:
        """Pause the replay (the frame being computed is still shown when it arrives)."""
        self.model.set_playing(False)
        self.run_to = None
        self.tick_timer.stop()
        if self.looping:
            self.looping = False
            self.loop_timer.stop()
            self._update_play_button()

    def start_loop(self) -> None:
        """Every frame is processed: show the results again as a cine loop (replayed frames,
        at the replay rate) until paused."""
        m = self.model
        if m.first_frame is None or m.newest < m.first_frame:
            return
        self.looping = True
        self.loop_timer.start(max(1, round(1000 * m.frame_period_s / m.speed)))
        self.statusBar().showMessage(
            f"every frame is processed: cine loop of the results, frames {m.first_frame}.."
            f"{m.newest} (Space pauses)", 8000)
        self._update_play_button()

    def _loop_step(self) -> None:
        m = self.model
        first = m.first_frame if m.first_frame is not None else 0
        m.set_position(m.position + 1 if first <= m.position < m.newest else first)

    def toggle_play(self) -> None:
        """Play or pause."""
        if self.model.playing or self.play_after_prepare or self.looping:
            self.play_after_prepare = False
            self.pause()
            self._update_play_button()
        else:
            self.play()

    def step_forward(self) -> None:
        """Show the next frame: a stored one, or process the next acquired frame."""
        m = self.model
        if m.sequence is None:
            return
        self.pause()
        if self.prepared and m.position < m.newest:
            m.step(1)
        else:
            self.jump_to(max(m.newest, m.position) + 1)

    def go_first(self) -> None:
        """Show the first replayed frame."""
        if self.model.first_frame is not None:
            self.model.set_position(self.model.first_frame)

    def jump_to(self, t: int) -> None:
        """Show frame ``t``, processing the frames up to it (unpaced) when needed."""
        m = self.model
        if m.sequence is None:
            return
        t = max(0, min(int(t), m.n_frames - 1))
        if self.prepared and t <= m.newest:
            self.pause()
            m.set_position(t)
            return
        self.model.set_playing(False)
        self.run_to = t
        if not self.prepared:
            self._prepare()
        else:
            self._continue()

    def _continue(self) -> None:
        """Request the next frame when the replay or a jump needs one."""
        m = self.model
        if self.busy or not self.prepared:
            return
        if m.newest >= m.n_frames - 1:
            m.set_playing(False)
            self.run_to = None
            return
        if self.run_to is not None:
            if m.newest < self.run_to:
                self._request_frame()
            else:
                self.run_to = None
            return
        if m.playing:
            delay = self.replay_clock.delay_s()
            if delay <= 0.0:
                self._request_frame()
            else:
                self.tick_timer.start(max(1, round(delay * 1000)))

    def _request_frame(self) -> None:
        if self.busy or not self.prepared:
            return
        self.busy = True
        self.pending = "frame"
        self.last_request_s = time.perf_counter()
        if self.model.playing:
            self.replay_clock.requested()
        self.worker.request_frame(self.generation)

    def _on_frame_ready(self, generation: int, output: FrameOutput) -> None:
        if generation != self.generation:
            return
        self.busy = False
        self.pending = None
        m = self.model
        follow = m.playing or self.run_to is not None or m.position == m.newest
        try:
            m.add_frame(output, move=follow)
        except Exception as exc:
            self.report_error("Unexpected result", exc)
            self.pause()
            return
        if follow:
            m.record_render_ms(output.t, self.last_render_ms)
        if m.playing:
            m.record_tick()
        self.latency.refresh()
        self._update_labels()
        self._continue()

    def _on_failed(self, generation: int, exc: object, details: str) -> None:
        if generation != self.generation:
            return
        kind = self.pending
        self.busy = False
        self.pending = None
        self.progress.setVisible(False)
        self.pause()
        self.play_after_prepare = False
        self._update_play_button()
        if kind == "load" and isinstance(exc, MissingMetadataError):
            self._ask_metadata(exc)
            return
        title = {
            "load": "Cannot open",
            "prepare": "Cannot prepare the prediction",
            "frame": "Frame processing failed",
            "export": "Export failed",
        }.get(kind or "", "Error")
        self.report_error(title, exc, details)

    def _ask_metadata(self, exc: MissingMetadataError) -> None:
        path = getattr(self, "_task_path", None)
        need_spacing, need_period = MetadataDialog.needs_from_message(str(exc))
        # what was typed for this path before stays (the loader reports one gap at a time)
        given = self._metadata_given
        spacing0, period0 = (given[1], given[2]) if given and given[0] == str(path) else (None,
                                                                                           None)
        dlg = MetadataDialog(
            str(path),
            gui_wording(str(exc)),
            need_spacing=need_spacing,
            need_period=need_period,
            spacing_mm=spacing0,
            frame_period_s=period0,
            parent=self,
        )
        self.metadata_dialog = dlg

        def accepted() -> None:
            if path is not None:
                spacing = dlg.spacing_mm if dlg.spacing_mm is not None else spacing0
                period = dlg.frame_period_s if dlg.frame_period_s is not None else period0
                self.open_path(path, spacing_mm=spacing, frame_period_s=period)

        dlg.accepted.connect(accepted)
        dlg.open()

    def report_error(self, title: str, exc: BaseException | object, details: str = "") -> None:
        """Show an error as a dialog (and in the status bar)."""
        message = describe_error(exc) if isinstance(exc, BaseException) else str(exc)
        self.statusBar().showMessage(f"{title}: {message}", 10000)
        self.last_error = show_error(self, title, message, details)

    # ================================================================== exports
    def export_predicted(self, path: str | Path) -> None:
        """Write the primary method's predicted frames (worker thread).

        ``.mha``, ``.nii``/``.nii.gz`` or ``.seq.nrrd`` by extension; an existing folder or a
        path without extension writes a DICOM series into that folder.
        """
        self.pause()
        try:
            seq = self.model.predicted_sequence()
        except Exception as exc:
            self.report_error("Export failed", exc)
            return
        out = Path(path)
        desc = f"motionpredict prediction {self.model.primary} h={self.model.horizon_ms:.0f}ms"

        def write() -> Any:
            from motionpredict import io as mio

            if isinstance(seq, PointTrajectories):
                return mio.write_points_csv(seq, out)
            if out.is_dir() or not out.suffix:
                return mio.write_dicom_series(seq, out, description=desc)
            return mio.write_image(seq, out)

        self._run_task(
            "export", write, lambda _v: self.statusBar().showMessage(f"wrote {out}", 8000)
        )

    def export_predicted_dialog(self) -> None:
        """Ask where to write the predicted series."""
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Export predicted series (a name without extension writes a DICOM folder)",
            "predicted.mha",
            "CSV, markers (*.csv)" if self.model.is_markers else IMAGE_EXPORT_FILTER,
        )
        if path:
            self.export_predicted(path)

    def export_plots(self, path: str | Path) -> Path:
        """Write the current plots to a PNG file."""
        return self.plots.save_png(path)

    def export_plots_dialog(self) -> None:
        """Ask where to write the plots."""
        path, _ = QFileDialog.getSaveFileName(self, "Export plots", "plots.png", "PNG (*.png)")
        if path:
            try:
                self.export_plots(path)
            except Exception as exc:
                self.report_error("Export failed", exc)

    def export_report(self, path: str | Path) -> Path:
        """Write the Markdown report of the replay (atomically)."""
        from motionpredict.io.atomic import atomic_path

        text = self.model.report_text()
        out = Path(path)
        with atomic_path(out) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return out

    def export_report_dialog(self) -> None:
        """Ask where to write the report."""
        path, _ = QFileDialog.getSaveFileName(self, "Export report", "report.md", "Markdown (*.md)")
        if path:
            try:
                self.export_report(path)
            except Exception as exc:
                self.report_error("Export failed", exc)

    def show_shortcuts(self) -> None:
        """List the keyboard shortcuts."""
        QMessageBox.information(
            self,
            "Keyboard shortcuts",
            "Space: play / pause\nRight / Left: next / previous frame\nHome / End: first "
            "replayed / newest frame\n] / [: speed ×2 / ÷2\nMouse wheel over an image: frames\n"
            "Right-drag over an image: window (horizontal) and level (vertical)\nCtrl+O: open "
            "file, Ctrl+Shift+O: open folder, Ctrl+N: new phantom\nCtrl+E: export predicted "
            "series, Ctrl+Shift+P: export plots, Ctrl+R: export report",
        )

    # ================================================================== synchronous run
    def run_synchronously(
        self, until: int, progress: Callable[[int, int], None] | None = None
    ) -> None:
        """Prepare and process frames up to ``until`` in this thread (screenshots, scripts)."""
        m = self.model
        if m.sequence is None:
            raise ConfigurationError("open a sequence first")
        self._reset_run()
        processor = m.create_processor(self.pipeline_factory)
        m.begin(processor.prepare(progress))
        until = min(int(until), m.n_frames - 1)
        while m.newest < until:
            m.add_frame(processor.process_next())
            m.record_render_ms(m.newest, self.last_render_ms)
        self.latency.refresh()
        self.plots.refresh(force=True)
        self._update_labels()

    def closeEvent(self, event: Any) -> None:
        self.tick_timer.stop()
        self.loop_timer.stop()
        self.generation += 1
        self.worker_thread.stop()
        self.plots.stop()
        sys.setswitchinterval(self._switch_interval)
        super().closeEvent(event)
