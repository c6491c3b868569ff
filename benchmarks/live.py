"""End-to-end latency of the live service: DICOM C-STORE send -> OpenIGTLink receive.

Starts ``motionpredict live`` in a subprocess (loopback, OS-chosen ports), connects an OpenIGTLink
client (:class:`motionpredict.live.igtl_client.RecordingClient`), sends the first ``--train``
frames of a 270 x 270 phantom cine and waits for the model, then sends the remaining frames by
C-STORE at 10 frames/s and, in a second service, at 100 frames/s. Prints per rate the median and
99th percentile of the end-to-end latency (just before C-STORE -> the frame's last OpenIGTLink
message received), the service's own time (arrival -> sent, from its log), the frames skipped,
and as the baseline measured in the same run the offline per-frame pipeline time
(:class:`motionpredict.pipeline.OnlineFramePipeline`, same frames, same settings, this process).
The load average before and after is printed: the numbers depend on what else runs.

    python benchmarks/live.py [--frames 150] [--train 40] [--method lms] [--rates 10 100]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from motionpredict.live.igtl_client import RecordingClient
from motionpredict.live.log import read_log
from motionpredict.live.replay import dicom_frames, send_cstore
from motionpredict.phantom import make_cine
from motionpredict.pipeline import OnlineFramePipeline

HORIZON = "200ms"  # 2 frames of the phantom's 0.1 s


def _wait(pred, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def _tail(f) -> str:  # type: ignore[no-untyped-def]
    f.flush()
    return Path(f.name).read_text()[-3000:]


def run_rate(files: list[Path], rate: float, train: int, method: str, work: Path) -> dict:
    """One service, one rate: the latency of every answered frame and the skips."""
    log = work / f"live-{rate:g}.jsonl"
    errors = (work / f"live-{rate:g}.stderr").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "motionpredict", "live", "--log", str(log), "--method", method,
         "--horizon", HORIZON, "--train-frames", str(train), "--dicom-port", "0",
         "--igtl-port", "0", "--duration", "300"],
        stdout=subprocess.PIPE, stderr=errors, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    m = re.search(r"C-STORE 127\.0\.0\.1:(\d+) .*OpenIGTLink 127\.0\.0\.1:(\d+)",
                  proc.stdout.readline())
    if m is None:
        proc.kill()
        proc.communicate()
        raise SystemExit(f"the service did not start: {_tail(errors)}")
    client = RecordingClient(int(m.group(2)))
    time.sleep(0.3)
    send_cstore(files[:train], port=int(m.group(1)), period_s=0.05)
    if not _wait(lambda: log.exists() and any(r["event"] == "model" for r in read_log(log)),
                 60):
        proc.kill()
        raise SystemExit("the model was not built within 60 s")
    time.sleep(0.5)
    try:
        sent = send_cstore(files[train:], port=int(m.group(1)), period_s=1.0 / rate)
    except Exception:
        proc.kill()
        proc.communicate()
        print(_tail(errors), file=sys.stderr)
        raise
    _wait(lambda: len(client.of_type("STRING")) >= len(files), 5.0)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    errors.close()
    extra = [ln for ln in Path(errors.name).read_text().splitlines()
             if not ln.startswith("motionpredict live: stopped")]
    if extra:
        print(f"# service stderr at {rate:g} frames/s ({len(extra)} lines):", *extra[-5:],
              sep="\n#   ")
    client.close()
    received = {}
    for t, msg in client.of_type("STRING"):
        received[json.loads(msg.string)["instance"]] = t
    lat = np.array([(received[s.instance] - s.sent_unix_s) * 1e3 for s in sent
                    if s.instance in received])
    records = read_log(log)
    frames = [r for r in records if r["event"] == "frame" and r["phase"] == "predicted"]
    stop = records[-1]
    return {"rate": rate, "sent": len(sent), "answered": len(lat),
            "skipped": stop["skipped"], "latency_ms": lat,
            "service_ms": np.array([r["service_ms"] for r in frames]),
            "predict_ms": np.array([r["predict_ms"] for r in frames]),
            "cpu_ms": np.array([r["cpu_ms"] for r in frames])}


def offline_ms(seq, train: int, method: str):  # type: ignore[no-untyped-def]
    """Baseline: the offline pipeline's wall and CPU time (ms) per frame after the training
    window."""
    pipe = OnlineFramePipeline(seq, method=method, horizon_s=0.2, train_frames=train)
    pipe.prepare()
    out, cpu = [], []
    for t in range(train, seq.n_frames):
        t0, c0 = time.perf_counter(), time.thread_time()
        pipe.process(t)
        out.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.thread_time() - c0) * 1e3)
    return np.array(out), np.array(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--train", type=int, default=40)
    ap.add_argument("--method", default="lms")
    ap.add_argument("--rates", type=float, nargs="+", default=[10.0, 100.0])
    args = ap.parse_args()
    load0 = os.getloadavg()
    seq = make_cine(seed=0, n_frames=args.frames, shape=(270, 270), frame_period_s=0.1,
                    spacing_mm=(1.0, 1.0)).sequence
    with tempfile.TemporaryDirectory() as tmp:
        files = dicom_frames(seq, Path(tmp) / "series")
        base, base_cpu = offline_ms(seq, args.train, args.method)
        results = [run_rate(files, r, args.train, args.method, Path(tmp)) for r in args.rates]
    load1 = os.getloadavg()
    n_cpu = os.cpu_count()
    print(f"# live service, 270 x 270 phantom cine, method {args.method}, horizon {HORIZON}, "
          f"{args.train} training + {args.frames - args.train} timed frames")
    print(f"# load average {load0[0]:.2f} before, {load1[0]:.2f} after, {n_cpu} CPUs")
    print("| | frames sent | answered | skipped | end-to-end median / p99 (ms) "
          "| service median / p99 (ms) | service CPU median (ms) |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        lat, svc = r["latency_ms"], r["service_ms"]
        print(f"| {r['rate']:g} frames/s | {r['sent']} | {r['answered']} | {r['skipped']} | "
              f"{np.median(lat):.1f} / {np.percentile(lat, 99):.1f} | "
              f"{np.median(svc):.1f} / {np.percentile(svc, 99):.1f} | "
              f"{np.median(r['cpu_ms']):.1f} |")
    print(f"| baseline: offline pipeline per frame (this process) | {len(base)} | | | "
          f"{np.median(base):.1f} / {np.percentile(base, 99):.1f} | | "
          f"{np.median(base_cpu):.1f} |")


if __name__ == "__main__":
    main()
