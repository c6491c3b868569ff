"""DICOM C-STORE input: a pynetdicom storage SCP that decodes each image and hands it over."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

from motionpredict.errors import ConfigurationError, MotionPredictError
from motionpredict.live.frames import LiveFrame, frame_from_dataset

__all__ = ["DicomReceiver"]

#: C-STORE status "cannot understand" (the image was received but is not a usable frame).
STATUS_CANNOT_UNDERSTAND = 0xC000


class DicomReceiver:
    """Storage SCP on ``host:port`` (loopback by default; port 0 lets the OS choose) under
    ``ae_title``; every storage SOP class, any calling AE, several associations in turn or at
    once (a sender that disconnects can associate again).

    Parameters
    ----------
    put
        Receives each decoded :class:`LiveFrame` (in pynetdicom's association thread).
    on_error
        Receives a one-line message for a data set that is not a usable frame (answered with
        status 0xC000).
    """

    def __init__(self, put: Callable[[LiveFrame], Any], on_error: Callable[[str], Any], *,
                 ae_title: str = "MOTIONPREDICT", port: int = 11112,
                 host: str = "127.0.0.1") -> None:
        from pynetdicom import AE, AllStoragePresentationContexts, evt
        from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

        title = ae_title.strip()
        if not title or len(title) > 16 or not title.isascii() or "\\" in title:
            raise ConfigurationError(f"AE title {ae_title!r} must be 1-16 ASCII characters")
        if not 0 <= int(port) <= 65535:
            raise ConfigurationError(f"DICOM port must lie in 0..65535, got {port}")
        self._put, self._on_error = put, on_error
        ae = AE(ae_title=title)
        ae.supported_contexts = AllStoragePresentationContexts
        ae.add_supported_context(Verification)
        ae.maximum_pdu_size = 0  # no limit
        self.ae_title = title
        self.received = 0
        server = ae.start_server((host, int(port)), block=False,
                                 evt_handlers=[(evt.EVT_C_STORE, self._on_store),
                                               (evt.EVT_CONN_OPEN, self._on_open)])
        assert server is not None  # block=False returns the running server
        self._server = server

    @property
    def port(self) -> int:
        """The port listened on."""
        return int(self._server.server_address[1])

    @staticmethod
    def _on_open(event: Any) -> None:
        """Each response leaves at once (TCP_NODELAY): with Nagle's algorithm and delayed ACKs
        every C-STORE waits about 40-50 ms on Linux."""
        sock = getattr(getattr(event.assoc.dul, "socket", None), "socket", None)
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _on_store(self, event: Any) -> int:
        arrival_unix, arrival_perf = time.time(), time.perf_counter()
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            frame = frame_from_dataset(ds, arrival_unix_s=arrival_unix,
                                       arrival_perf_s=arrival_perf, source="dicom")
        except (MotionPredictError, ValueError, AttributeError, TypeError) as exc:
            self._on_error(f"C-STORE from {event.assoc.requestor.ae_title}: {exc}")
            return STATUS_CANNOT_UNDERSTAND
        self.received += 1
        self._put(frame)
        return 0x0000

    def stop(self) -> None:
        """Stop listening and close every association."""
        self._server.shutdown()
