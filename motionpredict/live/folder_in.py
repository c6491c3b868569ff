"""Watched-folder input (watchdog): a file is taken once it is completely written.

A file renamed into the folder is complete when the rename happens (the safe way to write; what
``motionpredict send --folder`` does). A file written in place is taken once its size and
modification time have not changed for ``settle_s``. Hidden files (``.name``) and names ending
``.tmp`` / ``.part`` are never taken; each file is taken once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from motionpredict.errors import InputFileError, MotionPredictError
from motionpredict.live.frames import LiveFrame, frame_from_file

__all__ = ["FolderWatcher"]


def _ignored(path: Path) -> bool:
    name = path.name
    return name.startswith(".") or name.endswith((".tmp", ".part", ".partial", ".crdownload"))


class FolderWatcher:
    """Watch ``folder`` (not its sub-folders) for new frame files.

    Parameters
    ----------
    folder
        An existing folder.
    put, on_error
        As for :class:`~motionpredict.live.dicom_in.DicomReceiver`.
    settle_s
        How long size and modification time of a file written in place must stay unchanged, s.
    """

    def __init__(self, folder: str | Path, put: Callable[[LiveFrame], Any],
                 on_error: Callable[[str], Any], *, settle_s: float = 0.05) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputFileError(self.folder, "is not a folder (the watched folder must exist)")
        self._put, self._on_error = put, on_error
        self.settle_s = float(settle_s)
        self._pending: dict[Path, tuple[int, int, float]] = {}
        self._taken: set[tuple[str, int, int]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.received = 0
        watcher = self

        class _Events(FileSystemEventHandler):
            def on_created(self, event: FileSystemEvent) -> None:
                if not event.is_directory:
                    watcher._note(Path(str(event.src_path)))

            def on_modified(self, event: FileSystemEvent) -> None:
                if not event.is_directory:
                    watcher._note(Path(str(event.src_path)))

            def on_moved(self, event: FileSystemEvent) -> None:
                if not event.is_directory:
                    watcher._take(Path(str(event.dest_path)), time.time(), time.perf_counter())

        self._observer = Observer()
        self._observer.schedule(_Events(), str(self.folder), recursive=False)
        self._observer.start()
        self._poller = threading.Thread(target=self._poll, name="folder-settle", daemon=True)
        self._poller.start()

    def _note(self, path: Path) -> None:
        if _ignored(path) or path.parent != self.folder:
            return
        with self._lock:
            self._pending.setdefault(path, (-1, -1, 0.0))

    def _poll(self) -> None:
        while not self._stop.wait(self.settle_s / 2):
            now = time.perf_counter()
            with self._lock:
                items = list(self._pending.items())
            for path, (size, mtime, since) in items:
                try:
                    st = path.stat()
                except FileNotFoundError:
                    with self._lock:
                        self._pending.pop(path, None)
                    continue
                if (st.st_size, st.st_mtime_ns) != (size, mtime) or st.st_size == 0:
                    with self._lock:
                        self._pending[path] = (st.st_size, st.st_mtime_ns, now)
                elif now - since >= self.settle_s:
                    with self._lock:
                        self._pending.pop(path, None)
                    self._take(path, time.time(), now)

    def _take(self, path: Path, arrival_unix: float, arrival_perf: float) -> None:
        if _ignored(path) or path.parent != self.folder:
            return
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return
        key = (path.name, st.st_ino, st.st_mtime_ns)
        with self._lock:
            self._pending.pop(path, None)
            if key in self._taken:
                return
            self._taken.add(key)
        try:
            frame = frame_from_file(path, arrival_unix_s=arrival_unix, arrival_perf_s=arrival_perf)
        except (MotionPredictError, OSError) as exc:
            self._on_error(str(exc) if isinstance(exc, InputFileError) else f"{path}: {exc}")
            return
        self.received += 1
        self._put(frame)

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
        self._observer.stop()
        self._observer.join(timeout=5)
        self._poller.join(timeout=5)
