"""Computation off the GUI thread: a worker object living in a ``QThread``.

The GUI thread sends requests through queued signals; the worker answers with signals carrying
the results. Every request carries a *generation* number: when the user changes the settings or
opens another sequence the GUI bumps its generation and ignores answers to older requests, so a
slow computation can never overwrite newer state.

The worker never touches the :class:`~motionpredict.viewer_model.ViewerModel`; it owns the
:class:`~motionpredict.viewer_model.FrameProcessor` (the online pipelines) and arbitrary loading
tasks (:meth:`PipelineWorker.run_task`).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from motionpredict.errors import MotionPredictError
from motionpredict.viewer_model import FrameProcessor


class Cancelled(Exception):
    """Raised inside a preparation the GUI no longer needs (see :meth:`PipelineWorker.cancel`)."""


def describe_error(exc: BaseException) -> str:
    """One message for a dialog: user errors as they are, programming errors with their type."""
    if isinstance(exc, MotionPredictError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class PipelineWorker(QObject):
    """Runs pipeline preparation, frame processing and loading tasks in its own thread.

    Signals
    -------
    prepared(generation, Prepared)
        :meth:`FrameProcessor.prepare` finished.
    frame_ready(generation, FrameOutput)
        One frame was processed.
    task_done(generation, object)
        A task submitted with :meth:`run_task` returned a value.
    progress(generation, done, total)
        Progress of the current preparation.
    failed(generation, exception, details)
        A request raised; ``details`` is the traceback (shown under "Show Details").
    """

    prepared = Signal(int, object)
    frame_ready = Signal(int, object)
    task_done = Signal(int, object)
    progress = Signal(int, int, int)
    failed = Signal(int, object, str)

    _prepare_requested = Signal(int, object)
    _frame_requested = Signal(int)
    _task_requested = Signal(int, object)

    def __init__(self) -> None:
        super().__init__()
        self.processor: FrameProcessor | None = None
        self._generation = -1
        self._cancel = False
        self._prepare_requested.connect(self._prepare)
        self._frame_requested.connect(self._process)
        self._task_requested.connect(self._run_task)

    # ------------------------------------------------------------------ requests (any thread)
    def request_prepare(self, generation: int, processor: FrameProcessor) -> None:
        """Prepare ``processor`` in the worker thread (answered by ``prepared`` or ``failed``)."""
        self._prepare_requested.emit(generation, processor)

    def cancel(self) -> None:
        """Abort the preparation in progress at its next progress report (any thread)."""
        self._cancel = True

    def request_frame(self, generation: int) -> None:
        """Process the next frame (answered by ``frame_ready`` or ``failed``)."""
        self._frame_requested.emit(generation)

    def run_task(self, generation: int, task: Callable[[], Any]) -> None:
        """Call ``task()`` in the worker thread (answered by ``task_done`` or ``failed``)."""
        self._task_requested.emit(generation, task)

    # ------------------------------------------------------------------ slots (worker thread)
    def _fail(self, generation: int, exc: BaseException) -> None:
        self.failed.emit(generation, exc, traceback.format_exc())

    @Slot(int, object)
    def _prepare(self, generation: int, processor: FrameProcessor) -> None:
        self._generation = generation
        self.processor = None
        self._cancel = False

        def progress(done: int, total: int) -> None:
            if self._cancel:
                raise Cancelled
            self.progress.emit(generation, done, total)

        try:
            prepared = processor.prepare(progress)
        except Cancelled:
            return
        except Exception as exc:  # every failure becomes a dialog, never a dead thread
            self._fail(generation, exc)
            return
        self.processor = processor
        self.prepared.emit(generation, prepared)

    @Slot(int)
    def _process(self, generation: int) -> None:
        if generation != self._generation or self.processor is None:
            return  # stale request: the settings changed since
        try:
            out = self.processor.process_next()
        except Exception as exc:
            self._fail(generation, exc)
            return
        self.frame_ready.emit(generation, out)

    @Slot(int, object)
    def _run_task(self, generation: int, task: Callable[[], Any]) -> None:
        try:
            value = task()
        except Exception as exc:
            self._fail(generation, exc)
            return
        self.task_done.emit(generation, value)


class WorkerThread:
    """A :class:`PipelineWorker` moved to its own started ``QThread``; :meth:`stop` joins it."""

    def __init__(self) -> None:
        self.thread = QThread()
        self.thread.setObjectName("motionpredict-worker")
        self.worker = PipelineWorker()
        self.worker.moveToThread(self.thread)
        self.thread.start()

    def stop(self, timeout_ms: int = 30_000) -> bool:
        """Cancel a preparation in progress, let the thread finish its current request and end;
        return ``True`` once it ended."""
        self.worker.cancel()
        self.thread.quit()
        return bool(self.thread.wait(timeout_ms))
