"""An OpenIGTLink client that records every message with its receive time (pyigtl decodes them;
pyigtl's own client keeps only the newest message per device). For tests, the benchmark and a
quick look at what the live service sends without 3D Slicer."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from pyigtl.messages import MessageBase

__all__ = ["RecordingClient"]


class RecordingClient:
    """Connect to an OpenIGTLink server and record ``(receive unix time, message)`` pairs in a
    background thread; retries the connection for up to ``timeout_s`` s."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout_s: float = 10.0) -> None:
        end = time.monotonic() + timeout_s
        while True:
            try:
                self._sock = socket.create_connection((host, port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)
        self._sock.settimeout(0.1)
        self.messages: list[tuple[float, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._buf = b""
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _read(self, n: int) -> bytes | None:
        while len(self._buf) < n:
            if self._stop.is_set():
                return None
            try:
                chunk = self._sock.recv(1 << 20)
            except TimeoutError:
                continue
            except OSError:
                return None
            if not chunk:
                return None
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _run(self) -> None:
        while True:
            head = self._read(MessageBase.IGTL_HEADER_SIZE)
            if head is None:
                return
            fields = MessageBase.parse_header(head)
            body = self._read(fields["body_size"])
            if body is None:
                return
            received = time.time()
            msg = MessageBase.create_message(fields["message_type"])
            msg.unpack(fields, body)
            with self._lock:
                self.messages.append((received, msg))

    def of_type(self, kind: str) -> list[tuple[float, Any]]:
        """The recorded messages of one type (``"STRING"``, ``"TRANSFORM"``, ``"IMAGE"``)."""
        with self._lock:
            return [(t, m) for t, m in self.messages if m.message_type == kind]

    def close(self) -> None:
        """Stop reading and close the socket."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
