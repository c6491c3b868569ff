"""The live service loop: receivers -> newest-frame slot -> session -> OpenIGTLink + log.

The receivers (C-STORE, watched folder) run in their own threads and put decoded frames into a
:class:`~motionpredict.live.slot.LatestSlot`; the calling thread takes the newest frame, predicts,
sends and logs. A frame that arrives while the previous one is being processed waits in the slot;
if another arrives before it is taken, the older one is skipped and the skip is logged and
counted.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from motionpredict.errors import MotionPredictError
from motionpredict.live.frames import LiveFrame
from motionpredict.live.log import JsonLinesLog
from motionpredict.live.session import LivePrediction, LiveSession
from motionpredict.live.slot import LatestSlot

__all__ = ["LiveService"]


def _summary(values: list[float]) -> dict[str, float] | None:
    """Median, 99th percentile and maximum of per-frame times (ms); ``None`` without frames."""
    if not values:
        return None
    v = np.asarray(values)
    return {"median": float(np.median(v)), "p99": float(np.percentile(v, 99)),
            "max": float(v.max()), "n": len(v)}


class LiveService:
    """Run a :class:`LiveSession` on frames from the receivers until :meth:`stop`.

    Parameters
    ----------
    session
        The model (built from the first frames received).
    log
        Where every event is written.

    Notes
    -----
    Add receivers with :meth:`add_dicom` / :meth:`add_folder` and the output with
    :meth:`add_igtl`, then call :meth:`run` (blocks until :meth:`stop`, e.g. from a signal
    handler).
    """

    def __init__(self, session: LiveSession, log: JsonLinesLog) -> None:
        self.session = session
        self.log = log
        self.slot: LatestSlot[LiveFrame] = LatestSlot(on_skip=self._skipped)
        self.receivers: list[Any] = []
        self.igtl: Any = None
        self._stop = threading.Event()
        self.answered = 0
        self.rejected = 0
        self.guards = 0
        self.errors = 0
        self._service_ms: list[float] = []
        self._cpu_ms: list[float] = []

    # ------------------------------------------------------------------ set-up
    def add_dicom(self, **kw: Any) -> Any:
        """Start a C-STORE SCP (:class:`~motionpredict.live.dicom_in.DicomReceiver` keywords)."""
        from motionpredict.live.dicom_in import DicomReceiver

        r = DicomReceiver(self.slot.put, self._error, **kw)
        self.receivers.append(r)
        return r

    def add_folder(self, folder: Any, **kw: Any) -> Any:
        """Watch a folder (:class:`~motionpredict.live.folder_in.FolderWatcher` keywords)."""
        from motionpredict.live.folder_in import FolderWatcher

        r = FolderWatcher(folder, self.slot.put, self._error, **kw)
        self.receivers.append(r)
        return r

    def add_igtl(self, **kw: Any) -> Any:
        """Start the OpenIGTLink server (:class:`~motionpredict.live.igtl_out.IGTLSender`)."""
        from motionpredict.live.igtl_out import IGTLSender

        self.igtl = IGTLSender(**kw)
        return self.igtl

    # ------------------------------------------------------------------ events
    def _skipped(self, frame: LiveFrame) -> None:
        self.log.write("skip", instance=frame.instance, source=frame.source,
                       arrival_unix_s=frame.arrival_unix_s, skipped_total=self.slot.skipped)

    def _error(self, message: str) -> None:
        self.rejected += 1
        self.log.write("rejected", message=message)

    def stop(self) -> None:
        """Ask :meth:`run` to finish (safe from a signal handler or another thread)."""
        self._stop.set()

    # ------------------------------------------------------------------ loop
    def run(self, *, duration_s: float | None = None, poll_s: float = 0.05) -> dict[str, Any]:
        """Process frames until :meth:`stop` (or ``duration_s``); stop the receivers and the
        output, process the frame still waiting, write the ``stop`` line and close the log.

        Returns
        -------
        dict
            The summary written on the ``stop`` line.
        """
        end = None if duration_s is None else time.monotonic() + duration_s
        try:
            while not self._stop.is_set():
                if end is not None and time.monotonic() >= end:
                    break
                frame = self.slot.get(timeout=poll_s)
                if frame is not None:
                    self._handle(frame)
        finally:
            for r in self.receivers:
                r.stop()
            self.slot.close()
            last = self.slot.get(timeout=0)
            if last is not None:
                self._handle(last)
            if self.igtl is not None:
                self.igtl.stop()
            summary = {
                "frames_received": self.slot.put_count, "frames_answered": self.answered,
                "skipped": self.slot.skipped, "rejected": self.rejected,
                "guard_events": self.guards, "errors": self.errors,
                "service_ms": _summary(self._service_ms), "cpu_ms": _summary(self._cpu_ms),
                "igtl_sent": None if self.igtl is None else self.igtl.sent,
                "igtl_not_connected": None if self.igtl is None else self.igtl.not_connected,
                "settings": self.session.settings(),
            }
            self.log.write("stop", **summary)
            self.log.close()
        return summary

    def _handle(self, frame: LiveFrame) -> None:
        taken, cpu0 = time.perf_counter(), time.thread_time()
        try:
            p = self.session.push(frame)
        except MotionPredictError as exc:
            self._error(str(exc))
            return
        except Exception as exc:  # a live service logs a failure and goes on with the next frame
            self.errors += 1
            self.log.write("error", instance=frame.instance,
                           message=f"{type(exc).__name__}: {exc}", errors=self.errors)
            return
        done = time.perf_counter()
        if p.phase == "built":
            self.log.write("model", build_ms=(done - taken) * 1e3, **self.session.settings())
        sent_ms = None
        if self.igtl is not None:
            t0 = time.perf_counter()
            self.igtl.send(
                target_lps_mm=p.target_lps_mm,
                image=None if p.result is None else p.result.predicted_frame,
                ijk_to_lps=None if self.session.reference is None
                else self.session.reference.ijk_to_lps,
                status=self._status(p), timestamp=frame.arrival_unix_s)
            sent_ms = (time.perf_counter() - t0) * 1e3
        end, cpu = time.perf_counter(), (time.thread_time() - cpu0) * 1e3
        self.answered += 1
        if p.phase == "predicted":
            self._service_ms.append((end - frame.arrival_perf_s) * 1e3)
            self._cpu_ms.append(cpu)
        r = p.result
        if r is not None and r.guarded:
            self.guards += 1
            self.log.write("guard", t=p.t, instance=frame.instance, guard_events=self.guards)
        self.log.write(
            "frame", t=p.t, instance=frame.instance, source=frame.source, phase=p.phase,
            arrival_unix_s=frame.arrival_unix_s, acquisition_s=frame.acquisition_s,
            decode_ms=frame.decode_ms, wait_ms=(taken - frame.arrival_perf_s) * 1e3,
            stage_ms=None if r is None else r.stage_ms,
            build_ms=p.build_ms if p.phase == "built" else None,
            predict_ms=(done - taken) * 1e3, send_ms=sent_ms,
            service_ms=(end - frame.arrival_perf_s) * 1e3, cpu_ms=cpu,
            target_t=None if r is None else r.target_t,
            predicted_weights=None if r is None else r.predicted_weights,
            weights=None if r is None else r.weights,
            target_lps_mm=p.target_lps_mm, acquired_lps_mm=p.acquired_lps_mm,
            guarded=None if r is None else r.guarded, skipped_total=self.slot.skipped)

    def _status(self, p: LivePrediction) -> dict[str, Any]:
        h = self.session.horizon
        return {"instance": p.frame.instance, "t": p.t, "phase": p.phase,
                "target_t": None if p.result is None else p.result.target_t,
                "horizon": None if h is None else h.label(),
                "guarded": None if p.result is None else p.result.guarded,
                "skipped": self.slot.skipped,
                "train": f"{min(p.t + 1, self.session.train_frames)}/"
                         f"{self.session.train_frames}"}
