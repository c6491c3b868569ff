"""Replay a recorded sequence as a scanner would: C-STORE of one image per frame, or files
renamed into a folder, at the sequence's own frame period or faster (``motionpredict send``)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from motionpredict.errors import ConfigurationError, MotionPredictError

__all__ = ["SendRecord", "dicom_frames", "send_cstore", "send_folder"]


@dataclass
class SendRecord:
    """One frame sent.

    Attributes
    ----------
    instance
        InstanceNumber of the frame (1-based), as the service logs it.
    sent_unix_s
        Wall-clock time just before the frame left, s since 1970.
    status
        C-STORE response status (0 = success; ``None`` for folder writes or no answer).
    """

    instance: str
    sent_unix_s: float
    status: int | None = None


def dicom_frames(sequence: Any, out_dir: Path) -> list[Path]:
    """Write a 2D :class:`~motionpredict.sequences.ImageSequence` as one DICOM file per frame
    (a de-identified derived series, :func:`motionpredict.io.write_dicom_series`), in order."""
    from motionpredict.io import write_dicom_series

    if sequence.ndim != 2:
        raise ConfigurationError("send replays 2D cine frames; this sequence has 3D volumes")
    return write_dicom_series(sequence, out_dir, description="motionpredict send: replay")


def _schedule(n: int, period_s: float) -> Callable[[int], None]:
    if not period_s > 0:
        raise ConfigurationError(f"the send period must be positive, got {period_s} s")
    start = time.perf_counter()

    def wait(k: int) -> None:
        delay = start + k * period_s - time.perf_counter()
        if delay > 0:
            time.sleep(delay)

    return wait


def _no_delay(assoc: Any) -> None:
    """Send each PDU at once (TCP_NODELAY): with Nagle's algorithm and delayed ACKs every
    C-STORE waits about 40-50 ms on Linux."""
    import socket

    sock = getattr(getattr(assoc.dul, "socket", None), "socket", None)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def send_cstore(files: list[Path], *, port: int, host: str = "127.0.0.1",
                called_ae: str = "MOTIONPREDICT", calling_ae: str = "MPSEND",
                period_s: float, abort_after: int | None = None,
                on_sent: Callable[[SendRecord], Any] | None = None) -> list[SendRecord]:
    """Send each file by C-STORE, frame ``k`` at ``k x period_s`` after the first.

    Parameters
    ----------
    files
        DICOM files, in the order to send.
    port, host, called_ae, calling_ae
        Where to send and as whom.
    period_s
        Time between frames, s.
    abort_after
        Abort the association after this many frames and associate again (a sender that dies
        and comes back), for tests and demos.
    on_sent
        Called after each frame's response.

    Raises
    ------
    MotionPredictError
        No service accepts the association.
    """
    import pydicom
    from pynetdicom import AE

    datasets = [pydicom.dcmread(f) for f in files]
    ae = AE(ae_title=calling_ae)
    for uid in sorted({str(ds.SOPClassUID) for ds in datasets}):
        ae.add_requested_context(uid)

    def associate() -> Any:
        import socket

        try:  # a refused connection is told here (pynetdicom would leave its socket open)
            socket.create_connection((host, int(port)), timeout=5).close()
        except OSError as exc:
            raise MotionPredictError(f"no DICOM service accepted a connection at {host}:{port} "
                                     f"({exc.strerror or exc})") from None
        assoc = ae.associate(host, int(port), ae_title=called_ae)
        if not assoc.is_established:
            raise MotionPredictError(f"no DICOM service accepted an association at {host}:{port} "
                                     f"(called AE {called_ae})")
        _no_delay(assoc)
        return assoc

    assoc = associate()
    wait = _schedule(len(datasets), period_s)
    out: list[SendRecord] = []
    try:
        for k, ds in enumerate(datasets):
            if abort_after is not None and k == abort_after:
                assoc.abort()
                assoc = associate()
            wait(k)
            rec = SendRecord(str(ds.get("InstanceNumber", k + 1)), time.time())
            status = assoc.send_c_store(ds)
            rec.status = int(status.Status) if status and "Status" in status else None
            out.append(rec)
            if on_sent is not None:
                on_sent(rec)
    finally:
        if assoc.is_established:
            assoc.release()
    return out


def send_folder(files: list[Path], folder: Path, *, period_s: float, in_place: bool = False,
                on_sent: Callable[[SendRecord], Any] | None = None) -> list[SendRecord]:
    """Write each file into ``folder``, frame ``k`` at ``k x period_s``: to a hidden name then
    renamed into place (default), or written in place in two halves (``in_place``, to exercise
    the watcher's size-stable rule)."""
    import pydicom

    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigurationError(f"{folder}: the target folder must exist")
    blobs = [(f.name, f.read_bytes()) for f in files]
    instances = [str(pydicom.dcmread(f, stop_before_pixels=True).get("InstanceNumber", k + 1))
                 for k, f in enumerate(files)]
    wait = _schedule(len(blobs), period_s)
    out: list[SendRecord] = []
    for k, (name, data) in enumerate(blobs):
        wait(k)
        rec = SendRecord(instances[k], time.time())
        final = folder / name
        if in_place:
            with final.open("wb") as f:
                f.write(data[: len(data) // 2])
                f.flush()
                time.sleep(0.01)
                f.write(data[len(data) // 2:])
        else:
            tmp = folder / f".{name}.part"
            tmp.write_bytes(data)
            os.replace(tmp, final)
        out.append(rec)
        if on_sent is not None:
            on_sent(rec)
    return out
