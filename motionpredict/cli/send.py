"""``motionpredict send``: replay a recorded sequence as a scanner would (C-STORE or folder)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from motionpredict.errors import ConfigurationError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``send``."""
    p = subparsers.add_parser(
        "send",
        help="replay a 2D cine (a recording or the phantom) by DICOM C-STORE or folder writes",
        description="Send the frames of a recorded 2D cine one image at a time, at the "
        "sequence's own frame period (or --rate frames/s), by C-STORE to a DICOM service "
        "(e.g. motionpredict live) or by files renamed into a folder.",
    )
    p.add_argument("path", nargs="?", help="recorded sequence (DICOM folder, .mha ...)")
    p.add_argument("--phantom", action="store_true",
                   help="send a generated breathing phantom instead of PATH")
    p.add_argument("--frames", type=int, default=120, help="phantom frames (default 120)")
    p.add_argument("--size", type=int, default=128, help="phantom rows = columns (default 128)")
    p.add_argument("--phantom-period", type=float, default=0.25, metavar="S",
                   help="phantom frame period in s (default 0.25)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rate", type=float, metavar="FPS",
                   help="frames per second (default: the sequence's own frame period)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=11112, help="C-STORE port (default 11112)")
    p.add_argument("--ae-title", default="MOTIONPREDICT", help="called AE title")
    p.add_argument("--folder", metavar="DIR", help="write into this folder instead of C-STORE")
    p.add_argument("--spacing", type=float, nargs="+", metavar="MM",
                   help="pixel spacing when PATH's headers store none")
    p.add_argument("--frame-period", type=float, metavar="S",
                   help="frame period when PATH's headers store none")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Send the frames."""
    from motionpredict.live.replay import dicom_frames, send_cstore, send_folder

    if args.phantom == bool(args.path):
        raise ConfigurationError("give either PATH or --phantom")
    if args.rate is not None and not args.rate > 0:
        raise ConfigurationError(f"--rate must be positive, got {args.rate}")
    if args.phantom:
        from motionpredict.phantom import make_cine

        if args.frames < 2 or args.size < 16:
            raise ConfigurationError("--frames must be at least 2 and --size at least 16")
        seq = make_cine(seed=args.seed, n_frames=args.frames, shape=(args.size, args.size),
                        frame_period_s=args.phantom_period).sequence
    else:
        from motionpredict.io import load
        from motionpredict.sequences import ImageSequence

        spacing = None if not args.spacing else (
            args.spacing[0] if len(args.spacing) == 1 else tuple(args.spacing))
        loaded = load(args.path, frame_period_s=args.frame_period, spacing_mm=spacing)
        if not isinstance(loaded, ImageSequence):
            raise ConfigurationError(f"{args.path}: send replays image frames, not markers")
        seq = loaded
    period = 1.0 / args.rate if args.rate else seq.frame_period
    with tempfile.TemporaryDirectory(prefix="motionpredict-send-") as tmp:
        files = dicom_frames(seq, Path(tmp) / "series")
        print(f"motionpredict send: {len(files)} frames of {seq.shape[0]} x {seq.shape[1]} "
              f"pixels every {period * 1e3:.4g} ms", flush=True)
        if args.folder:
            recs = send_folder(files, Path(args.folder), period_s=period)
        else:
            recs = send_cstore(files, port=args.port, host=args.host, called_ae=args.ae_title,
                               period_s=period)
    bad = [r for r in recs if r.status not in (None, 0)]
    print(f"motionpredict send: {len(recs)} frames sent" +
          (f", {len(bad)} refused" if bad else ""))
    return 0
