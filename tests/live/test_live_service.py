"""The live service with real parts over loopback: a pynetdicom SCU sends a phantom cine to
``motionpredict live`` in a subprocess, a pyigtl-decoding client receives the answers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from motionpredict.cli.main import main
from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.live.frames import frame_from_file, geometry_matrix
from motionpredict.live.igtl_client import RecordingClient
from motionpredict.live.log import JsonLinesLog, read_log
from motionpredict.live.replay import dicom_frames, send_cstore, send_folder
from motionpredict.live.service import LiveService
from motionpredict.live.session import LiveSession, parse_roi
from motionpredict.live.slot import LatestSlot
from motionpredict.phantom import make_cine
from motionpredict.pipeline import OnlineFramePipeline
from motionpredict.sequences import ImageSequence

N_FRAMES, N_TRAIN, PERIOD_S = 40, 20, 0.25
HORIZON = "500ms"  # 2 frames of 0.25 s


@pytest.fixture(scope="module")
def cine_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    seq = make_cine(seed=3, n_frames=N_FRAMES, shape=(64, 64), frame_period_s=PERIOD_S).sequence
    return dicom_frames(seq, tmp_path_factory.mktemp("cine") / "series")


def _offline(files: list[Path]) -> list:
    """The offline pipeline on the same files read by the ordinary loader (``predict``'s path):
    predictions issued at frames N_TRAIN.. ."""
    from motionpredict.io import load

    seq = load(files[0].parent)
    assert isinstance(seq, ImageSequence) and seq.n_frames == len(files)
    assert seq.frame_period == pytest.approx(PERIOD_S) and seq.spacing == (2.0, 2.0)
    pipe = OnlineFramePipeline(seq, method="lms", horizon_s=0.5, train_frames=N_TRAIN)
    pipe.prepare()
    return [pipe.process(t) for t in range(N_TRAIN, len(files))]


def _wait_for(pred, timeout_s: float = 20.0) -> None:
    end = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.05)


def _events(path: Path, kind: str) -> list[dict]:
    return [r for r in read_log(path) if r["event"] == kind] if path.exists() else []


@pytest.mark.slow
def test_live_subprocess_answers_every_frame_like_the_offline_pipeline(
        cine_files: list[Path], tmp_path: Path) -> None:
    log = tmp_path / "live.jsonl"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "motionpredict", "live", "--log", str(log), "--method", "lms",
         "--horizon", HORIZON, "--train-frames", str(N_TRAIN), "--dicom-port", "0",
         "--igtl-port", "0", "--roi", "20:40,20:44", "--duration", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"C-STORE 127\.0\.0\.1:(\d+) AE (\S+), OpenIGTLink 127\.0\.0\.1:(\d+)", line)
        assert m, line
        dicom_port, igtl_port = int(m.group(1)), int(m.group(3))
        client = RecordingClient(igtl_port)
        _wait_for(lambda: any(r["event"] == "start" for r in read_log(log)))
        time.sleep(0.2)  # the server has accepted the client
        sent = send_cstore(cine_files[:N_TRAIN], port=dicom_port, period_s=0.02)
        _wait_for(lambda: bool(_events(log, "model")))  # the model is built: no frame waits
        # the rest, slower than the service; the sender dies after 8 frames and comes back
        sent += send_cstore(cine_files[N_TRAIN:], port=dicom_port, period_s=0.08, abort_after=8)
        _wait_for(lambda: len(client.of_type("STRING")) >= N_FRAMES, 10.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "40 frames received, 40 answered, 0 skipped" in err
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    client.close()
    assert all(s.status == 0 for s in sent)
    records = read_log(log)
    assert records[0]["event"] == "start" and records[-1]["event"] == "stop"
    stop = records[-1]
    assert (stop["frames_received"], stop["frames_answered"], stop["skipped"]) == (40, 40, 0)
    assert stop["settings"]["horizon"]["steps"] == 2
    assert stop["settings"]["frame_period_source"] == "header"
    assert stop["service_ms"]["n"] == N_FRAMES - N_TRAIN
    svc = stop["service_ms"]
    assert 0 < svc["median"] <= svc["p99"] <= svc["max"]
    frames = [r for r in records if r["event"] == "frame"]
    assert [r["t"] for r in frames] == list(range(N_FRAMES))
    assert [r["instance"] for r in frames] == [str(k + 1) for k in range(N_FRAMES)]
    assert all(r["service_ms"] > 0 and r["wait_ms"] >= 0 for r in frames)
    # causal predictions equal to the offline pipeline's on the same frames
    offline = _offline(cine_files)
    live = frames[N_TRAIN:]
    assert [r["phase"] for r in live] == ["predicted"] * (N_FRAMES - N_TRAIN)
    np.testing.assert_allclose([r["predicted_weights"] for r in live],
                               [o.predicted_weights for o in offline], rtol=1e-5, atol=1e-4)
    assert [r["target_t"] for r in live] == [o.target_t for o in offline]
    # OpenIGTLink: one status per frame, in order; a transform and an image per prediction
    strings = client.of_type("STRING")
    import json

    status = [json.loads(m.string) for _, m in strings]
    assert [s["instance"] for s in status] == [str(k + 1) for k in range(N_FRAMES)]
    assert status[-1]["horizon"].startswith("0.5 s (2 frames")
    transforms = client.of_type("TRANSFORM")
    assert len(transforms) == N_FRAMES - N_TRAIN
    np.testing.assert_allclose([m.matrix[:3, 3] for _, m in transforms],
                               [r["target_lps_mm"] for r in live], atol=1e-3)
    images = client.of_type("IMAGE")
    assert len(images) == N_FRAMES - N_TRAIN
    np.testing.assert_allclose(images[-1][1].image[0], offline[-1].predicted_frame, atol=1e-5)
    np.testing.assert_allclose(images[-1][1].ijk_to_world_matrix,
                               geometry_matrix((2.0, 2.0)), atol=1e-5)
    # the predicted target: the ROI centroid moved by the mean predicted field over the ROI
    o = offline[-1]
    mean = o.predicted_field_mm[20:40, 20:44].reshape(-1, 2).mean(0)
    np.testing.assert_allclose(live[-1]["target_lps_mm"],
                               [(20 + 43) / 2 * 2 + mean[1], (20 + 39) / 2 * 2 + mean[0], 0],
                               atol=1e-3)
    # end-to-end latency, send -> OpenIGTLink receive, for every frame
    latency = np.array([t - s.sent_unix_s for (t, _), s in zip(strings, sent, strict=True)])
    assert np.all(latency > 0) and np.all(latency < 5.0)


class _SlowSession(LiveSession):
    """A session that needs 30 ms per frame (a busy machine), so that a sender every 5 ms is
    faster than the service whatever the test machine."""

    def push(self, frame):  # type: ignore[no-untyped-def]
        time.sleep(0.03)
        return super().push(frame)


def test_faster_sender_skips_are_counted_newest_wins(cine_files: list[Path],
                                                     tmp_path: Path) -> None:
    session = _SlowSession(method="lms", horizon="1steps", train_frames=10)
    service = LiveService(session, JsonLinesLog(tmp_path / "fast.jsonl"))
    rx = service.add_dicom(port=0)
    runner = threading.Thread(target=service.run, kwargs={"duration_s": 60})
    runner.start()
    try:
        send_cstore(cine_files, port=rx.port, period_s=0.005)
        _wait_for(lambda: service.answered + service.slot.skipped >= N_FRAMES)
    finally:
        service.stop()
        runner.join(timeout=20)
    assert not runner.is_alive()
    records = read_log(tmp_path / "fast.jsonl")
    stop = records[-1]
    assert stop["event"] == "stop"
    frames = [r for r in records if r["event"] == "frame"]
    skips = [r for r in records if r["event"] == "skip"]
    assert stop["frames_received"] == N_FRAMES
    assert stop["skipped"] == len(skips) > 0
    assert stop["frames_answered"] == len(frames) == N_FRAMES - len(skips)
    answered = [int(r["instance"]) for r in frames]
    assert answered == sorted(answered)
    assert sorted(answered + [int(r["instance"]) for r in skips]) == list(range(1, N_FRAMES + 1))
    assert answered[-1] == N_FRAMES  # the newest frame is never the one dropped


def test_watched_folder_takes_each_complete_file_once(cine_files: list[Path],
                                                      tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    session = LiveSession(method="lms", horizon="1steps", train_frames=30)
    service = LiveService(session, JsonLinesLog(tmp_path / "folder.jsonl"))
    service.add_folder(inbox, settle_s=0.05)
    runner = threading.Thread(target=service.run, kwargs={"duration_s": 60})
    runner.start()
    try:
        send_folder(cine_files[:4], inbox, period_s=0.15)  # renamed into place
        send_folder(cine_files[4:7], inbox, period_s=0.3, in_place=True)  # written in place
        (inbox / ".hidden.dcm").write_bytes(cine_files[7].read_bytes())  # never taken
        (inbox / "broken.dcm").write_bytes(b"not dicom")
        _wait_for(lambda: service.answered >= 7 and service.rejected >= 1, 10.0)
        time.sleep(0.3)
    finally:
        service.stop()
        runner.join(timeout=20)
    records = read_log(tmp_path / "folder.jsonl")
    frames = [r for r in records if r["event"] == "frame"]
    assert [r["instance"] for r in frames] == [str(k) for k in range(1, 8)]
    assert all(r["source"] == "folder" and r["phase"] == "training" for r in frames)
    rejected = [r for r in records if r["event"] == "rejected"]
    assert len(rejected) == 1 and "broken.dcm" in rejected[0]["message"]
    assert records[-1]["frames_received"] == 7 and records[-1]["skipped"] == 0


def test_latest_slot_keeps_only_the_newest() -> None:
    dropped: list[int] = []
    slot: LatestSlot[int] = LatestSlot(on_skip=dropped.append)
    for k in range(5):
        slot.put(k)
    assert (slot.get(0), slot.skipped, dropped) == (4, 4, [0, 1, 2, 3])
    assert slot.get(0.01) is None
    slot.put(7)
    slot.close()
    assert slot.put(8) is False and slot.get(0) == 7 and slot.get(0) is None


def test_geometry_maps_pixel_indices_to_lps() -> None:
    # rows run along -z (feet), columns along +y (posterior): a sagittal slice
    m = geometry_matrix((1.5, 0.8), (10.0, -20.0, 30.0), (0, 1, 0, 0, 0, -1))
    r, c = 4, 10
    np.testing.assert_allclose(m @ [c, r, 0, 1],
                               [10.0, -20.0 + c * 0.8, 30.0 - r * 1.5, 1.0])
    np.testing.assert_allclose(abs(np.linalg.det(m[:3, :3])), 0.8 * 1.5)


def test_roi_and_options_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert parse_roi("1:5,2:9") == (1, 5, 2, 9)
    for bad in ("1:5", "5:1,0:3", "a:b,c:d"):
        with pytest.raises(ConfigurationError):
            parse_roi(bad)
    log = tmp_path / "x.jsonl"
    cases = [
        ["--horizon", "soon"],
        ["--horizon", "300ms", "--dicom-port", "-1"],
        ["--horizon", "300ms", "--method", "no-such-method"],
        ["--horizon", "300ms", "--train-frames", "2"],
        ["--horizon", "300ms", "--watch", str(tmp_path / "missing")],
    ]
    for extra in cases:
        assert main(["live", "--log", str(log), "--igtl-port", "-1", *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("motionpredict live: error:") and "\n" not in err
        assert not log.exists()
    assert main(["send", "--phantom", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_session_rounds_the_horizon_and_checks_the_roi_and_frames() -> None:
    from motionpredict.live.frames import LiveFrame

    seq = make_cine(seed=1, n_frames=8, shape=(32, 32), frame_period_s=0.25).sequence

    def frame(k: int, pixels: np.ndarray | None = None) -> LiveFrame:
        return LiveFrame(pixels=seq.frames[k] if pixels is None else pixels,
                         spacing=(2.0, 2.0), ijk_to_lps=geometry_matrix((2.0, 2.0)),
                         arrival_unix_s=100.0 + k, arrival_perf_s=float(k),
                         acquisition_s=0.25 * k, instance=str(k + 1))

    bad = LiveSession(method="lms", horizon="600ms", train_frames=5, roi=(0, 40, 0, 8))
    with pytest.raises(ConfigurationError, match="outside"):
        bad.push(frame(0))
    assert bad.reference is None
    s = LiveSession(method="lms", horizon="600ms", train_frames=5)
    phases = [s.push(frame(k)).phase for k in range(5)]
    assert phases == ["training"] * 4 + ["built"]
    assert s.horizon is not None and (s.horizon.steps, s.horizon.rounded) == (2, True)
    assert s.settings()["horizon"]["label"] == "0.5 s (2 frames of 0.25 s), requested 0.6 s"
    assert s.settings()["frame_period_source"] == "header"
    with pytest.raises(ValidationError, match="pixels"):
        s.push(frame(5, np.zeros((16, 32), np.float32)))
    p = s.push(frame(5))
    assert p.phase == "predicted" and p.t == 5 and p.result is not None
    assert p.result.target_t == 7 and np.all(np.isfinite(p.target_lps_mm))


def test_send_command_writes_the_frames_into_a_folder_and_refuses_a_dead_port(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import socket

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    assert main(["send", "--phantom", "--frames", "5", "--size", "32", "--rate", "100",
                 "--folder", str(inbox)]) == 0
    written = sorted(inbox.iterdir())
    assert [p.name for p in written] == [f"frame{k:04d}.dcm" for k in range(1, 6)]
    first = frame_from_file(written[0], arrival_unix_s=0.0, arrival_perf_s=0.0)
    assert first.pixels.shape == (32, 32) and first.instance == "1"
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    capsys.readouterr()
    assert main(["send", "--phantom", "--frames", "3", "--size", "32", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no DICOM service accepted a connection" in err and "\n" not in err


def test_igtl_output_serves_a_client_that_reconnects() -> None:
    import json

    from motionpredict.live.igtl_out import IGTLSender

    before = signal.getsignal(signal.SIGTERM)
    sender = IGTLSender(port=0)
    assert signal.getsignal(signal.SIGTERM) is before  # pyigtl's handlers are not left behind
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    m = geometry_matrix((2.0, 0.5), (1.0, 2.0, 3.0))

    def send(k: int) -> bool:
        return sender.send(target_lps_mm=np.array([k, 2.0 * k, -1.0]), image=image + k,
                           ijk_to_lps=m, status={"instance": str(k)}, timestamp=1000.0 + k)

    try:
        assert send(0) is False and sender.not_connected == 1  # nobody listens: nothing queued
        for first in (1, 3):  # a client, then another one after the first has gone
            client = RecordingClient(sender.port)
            _wait_for(lambda: sender.connected, 5.0)
            assert send(first) and send(first + 1)
            _wait_for(lambda c=client: len(c.of_type("STRING")) >= 2, 5.0)
            client.close()
            status = [json.loads(msg.string)["instance"] for _, msg in client.of_type("STRING")]
            assert status == [str(first), str(first + 1)]
            (_, tr), (_, im) = client.of_type("TRANSFORM")[-1], client.of_type("IMAGE")[-1]
            np.testing.assert_allclose(tr.matrix[:3, 3], [first + 1, 2 * first + 2, -1.0])
            np.testing.assert_array_equal(im.image[0], image + first + 1)
            np.testing.assert_allclose(im.ijk_to_world_matrix, m, atol=1e-6)
            assert tr.timestamp == pytest.approx(1000.0 + first + 1)
            _wait_for(lambda: not sender.connected, 5.0)
    finally:
        sender.stop()
    ras = IGTLSender(port=0, coordinates="ras")  # 3D Slicer's world: x and y negated
    try:
        client = RecordingClient(ras.port)
        _wait_for(lambda: ras.connected, 5.0)
        ras.send(target_lps_mm=np.array([1.0, 2.0, 3.0]), image=image, ijk_to_lps=m,
                 status={}, timestamp=0.0)
        _wait_for(lambda: len(client.of_type("STRING")) == 1, 5.0)
        client.close()
        np.testing.assert_allclose(client.of_type("TRANSFORM")[0][1].matrix[:3, 3], [-1, -2, 3])
        im = client.of_type("IMAGE")[0][1]
        assert im.world_coordinate_system == "ras"
        np.testing.assert_allclose(im.ijk_to_world_matrix, np.diag([-1, -1, 1, 1]) @ m,
                                   atol=1e-6)
    finally:
        ras.stop()
    with pytest.raises(ConfigurationError):
        IGTLSender(port=0, coordinates="xyz")


def test_live_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    log = tmp_path / "int.jsonl"
    with subprocess.Popen(
            [sys.executable, "-m", "motionpredict", "live", "--log", str(log), "--horizon",
             "1steps", "--dicom-port", "0", "--igtl-port", "-1", "--duration", "60"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and "listening" in proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    records = read_log(log)
    assert [r["event"] for r in records] == ["start", "stop"]
    assert records[-1]["frames_received"] == 0 and records[-1]["service_ms"] is None
