"""``motionpredict live``: the live service (C-STORE / watched folder in, OpenIGTLink out)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from motionpredict.errors import ConfigurationError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``live``."""
    from motionpredict.cli.predict import DEFAULT_METHOD, param_arg

    p = subparsers.add_parser(
        "live",
        help="live service: frames in by DICOM C-STORE or a watched folder, predictions out over "
             "OpenIGTLink (3D Slicer), a JSON-lines log with the latency of every frame",
        description="Receive 2D cine frames, build the motion model from the first N frames, "
        "then predict every new frame causally a horizon ahead and send the predicted target "
        "position (TRANSFORM, LPS mm), the predicted frame (IMAGE) and a status (STRING) over "
        "OpenIGTLink. Stops cleanly on Ctrl-C / SIGTERM with the log complete.",
    )
    p.add_argument("--log", required=True, metavar="FILE",
                   help="JSON-lines log to create (refused when it exists)")
    p.add_argument("--method", default=DEFAULT_METHOD,
                   help=f"forecaster (default {DEFAULT_METHOD}, as for predict)")
    p.add_argument("--horizon", required=True, metavar="TIME",
                   help="latency to compensate, e.g. 300ms or 2steps; a time is rounded to whole "
                        "frame periods and the log and status say so")
    p.add_argument("--train-frames", type=int, default=40, metavar="N",
                   help="first N frames build the model (reference = frame 1; default 40)")
    p.add_argument("--n-components", type=int, default=3)
    p.add_argument("--param", type=param_arg, action="append", default=[], metavar="NAME=VALUE",
                   help="forecaster hyper-parameter (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frame-period", type=float, metavar="S",
                   help="frame period in s (default: from the training frames' header times, "
                        "else their arrival times)")
    p.add_argument("--roi", metavar="R0:R1,C0:C1",
                   help="target box in pixels of the first frame (default: the whole frame)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address the DICOM and OpenIGTLink servers listen on (default loopback)")
    p.add_argument("--dicom-port", type=int, default=11112,
                   help="C-STORE port (0: any free port; -1: no DICOM input)")
    p.add_argument("--ae-title", default="MOTIONPREDICT", help="called AE title of the SCP")
    p.add_argument("--watch", metavar="DIR", help="also take frames written into this folder")
    p.add_argument("--settle", type=float, default=0.05, metavar="S",
                   help="a file written in place is taken once unchanged for S s (default 0.05)")
    p.add_argument("--igtl-port", type=int, default=18944,
                   help="OpenIGTLink server port (0: any free port; -1: no OpenIGTLink output)")
    p.add_argument("--igtl-coordinates", choices=("lps", "ras"), default="lps",
                   help="coordinates of the TRANSFORM and IMAGE messages (default lps; 3D Slicer "
                        "takes a TRANSFORM as RAS: use ras to see it in place there)")
    p.add_argument("--duration", type=float, metavar="S", help="stop by itself after S s")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Start the receivers and the output; serve until interrupted."""
    from motionpredict.evaluation.config import check_method_params
    from motionpredict.live.log import JsonLinesLog
    from motionpredict.live.service import LiveService
    from motionpredict.live.session import LiveSession, parse_roi

    if args.dicom_port < 0 and not args.watch:
        raise ConfigurationError("no input: give --dicom-port >= 0 or --watch DIR")
    for name in ("dicom_port", "igtl_port"):
        if getattr(args, name) > 65535:
            raise ConfigurationError(f"--{name.replace('_', '-')} must be at most 65535")
    if args.duration is not None and not args.duration > 0:
        raise ConfigurationError("--duration must be positive")
    if args.watch and not Path(args.watch).is_dir():
        raise ConfigurationError(f"--watch {args.watch}: not a folder")
    params = check_method_params(args.method, dict(args.param), "--param")
    session = LiveSession(method=args.method, horizon=args.horizon,
                          train_frames=args.train_frames, n_components=args.n_components,
                          seed=args.seed, method_params=params, frame_period_s=args.frame_period,
                          roi=parse_roi(args.roi) if args.roi else None)
    log = JsonLinesLog(args.log)
    service = LiveService(session, log)
    try:
        igtl = service.add_igtl(port=args.igtl_port, host=args.host,
                                coordinates=args.igtl_coordinates) if args.igtl_port >= 0 \
            else None
        dicom = (service.add_dicom(ae_title=args.ae_title, port=args.dicom_port, host=args.host)
                 if args.dicom_port >= 0 else None)
        if args.watch:
            service.add_folder(args.watch, settle_s=args.settle)
    except BaseException:
        for r in service.receivers:
            r.stop()
        if service.igtl is not None:
            service.igtl.stop()
        log.close()
        Path(args.log).unlink(missing_ok=True)
        raise

    def _stop(signum: int, _frame: Any) -> None:
        service.stop()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    listening = {
        "dicom": None if dicom is None else {"host": args.host, "port": dicom.port,
                                             "ae_title": dicom.ae_title},
        "folder": args.watch, "igtl": None if igtl is None else {"host": args.host,
                                                               "port": igtl.port,
                                                               "coordinates": igtl.coordinates},
    }
    log.write("start", listening=listening, **session.settings())
    parts = []
    if dicom is not None:
        parts.append(f"DICOM C-STORE {args.host}:{dicom.port} AE {dicom.ae_title}")
    if args.watch:
        parts.append(f"folder {args.watch}")
    where = f", OpenIGTLink {args.host}:{igtl.port}" if igtl is not None else ""
    print(f"motionpredict live: listening on {', '.join(parts)}{where}; log {args.log}",
          flush=True)
    summary = service.run(duration_s=args.duration)
    print(f"motionpredict live: stopped; {summary['frames_received']} frames received, "
          f"{summary['frames_answered']} answered, {summary['skipped']} skipped, "
          f"{summary['rejected']} rejected", file=sys.stderr)
    return 0
