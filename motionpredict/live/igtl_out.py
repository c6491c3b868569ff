"""OpenIGTLink output (pyigtl server): per predicted frame, a TRANSFORM of the predicted target
position, an IMAGE of the predicted frame and a STRING status, in that order.

Positions are LPS mm by default; ``coordinates="ras"`` negates x and y (3D Slicer's world is RAS,
and OpenIGTLinkIF takes a TRANSFORM's matrix as RAS).

Device names: ``PredictedTarget`` (TRANSFORM: identity rotation, translation = predicted target
position, LPS mm), ``PredictedFrame`` (IMAGE: float32, on the reference frame's grid, LPS),
``MotionPredictStatus`` (STRING: JSON with the frame, its phase, the horizon and the skip count).
The IGTL time stamp of each message is the frame's arrival time at the service.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import socketserver
import threading
from typing import Any

import numpy as np

from motionpredict.errors import ConfigurationError

__all__ = ["DEVICE_IMAGE", "DEVICE_STATUS", "DEVICE_TARGET", "IGTLSender"]

DEVICE_TARGET = "PredictedTarget"
DEVICE_IMAGE = "PredictedFrame"
DEVICE_STATUS = "MotionPredictStatus"


class _Handler(socketserver.BaseRequestHandler):
    """Serves one client: sends queued messages as soon as they are queued (pyigtl's own handler
    polls every 10 ms) and reads (and ignores) what the client sends."""

    def handle(self) -> None:
        srv: Any = self.server
        sock = self.request
        sock.settimeout(0.01)
        srv._connected = True
        try:
            while not srv.communication_thread_stop_requested:
                srv.wake.wait(0.05)
                srv.wake.clear()
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    if not sock.recv(1 << 16, socket.MSG_PEEK):
                        break  # the client closed the connection
                    with contextlib.suppress(Exception):
                        srv._receive_message_from_socket(sock)
                while srv._send_queued_message_from_socket(sock):
                    pass
        except OSError:
            pass
        finally:
            srv._connected = False
            with srv.lock_outgoing_messages:
                srv.outgoing_messages.clear()


class IGTLSender:
    """OpenIGTLink server on ``host:port`` (loopback by default; port 0 lets the OS choose).

    Messages are sent only while a client is connected (nothing is queued for a later client); a
    client that disconnects can connect again. Must be created in the main thread: pyigtl installs
    SIGINT / SIGTERM handlers there, which are put back as they were at once (stopping is the
    caller's business).
    """

    def __init__(self, port: int = 18944, host: str = "127.0.0.1",
                 coordinates: str = "lps") -> None:
        import signal

        import pyigtl

        if coordinates not in ("lps", "ras"):
            raise ConfigurationError(f"OpenIGTLink coordinates must be lps or ras, got "
                                     f"{coordinates!r}")
        #: ``diag(-1, -1, 1, 1)`` for RAS output (x and y negated), else identity.
        self._to_world = np.diag([-1.0, -1.0, 1.0, 1.0]) if coordinates == "ras" else np.eye(4)
        self.coordinates = coordinates

        local = host in ("127.0.0.1", "localhost")
        before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._server = pyigtl.OpenIGTLinkServer(port=port, local_server=local,
                                                    iface=None if local else host,
                                                    start_now=False)
        finally:
            for s, handler in before.items():
                signal.signal(s, handler)
        self._server.RequestHandlerClass = _Handler
        self._server.wake = threading.Event()
        self._server.start()
        self.sent = 0
        self.not_connected = 0

    @property
    def port(self) -> int:
        """The port listened on."""
        return int(self._server.server_address[1])

    @property
    def connected(self) -> bool:
        """``True`` while a client is connected."""
        return bool(self._server.is_connected())

    def send(self, *, target_lps_mm: np.ndarray | None, image: np.ndarray | None,
             ijk_to_lps: np.ndarray | None, status: dict[str, Any], timestamp: float) -> bool:
        """Queue the messages of one frame and wake the sending thread; ``False`` (nothing sent)
        when no client is connected."""
        import pyigtl

        if not self.connected:
            self.not_connected += 1
            return False
        msgs: list[Any] = []
        if target_lps_mm is not None:
            m = np.eye(4)
            m[:3, 3] = (self._to_world[:3, :3] @ np.asarray(target_lps_mm, dtype=np.float64))
            msgs.append(pyigtl.TransformMessage(m, timestamp=timestamp, device_name=DEVICE_TARGET))
        if image is not None and ijk_to_lps is not None:
            voxels = np.ascontiguousarray(image, dtype=np.float32)[None]  # (k=1, j=row, i=col)
            msgs.append(pyigtl.ImageMessage(voxels, ijk_to_world_matrix=self._to_world @ ijk_to_lps,
                                            world_coordinate_system=self.coordinates,
                                            timestamp=timestamp, device_name=DEVICE_IMAGE))
        msgs.append(pyigtl.StringMessage(json.dumps(status, separators=(",", ":")),
                                         timestamp=timestamp, device_name=DEVICE_STATUS))
        for m in msgs:
            self._server.send_message(m, wait=False)
        self._server.wake.set()
        self.sent += 1
        return True

    def stop(self) -> None:
        """Close the connection and the listening socket."""
        self._server.communication_thread_stop_requested = True
        self._server.wake.set()
        self._server.stop()
