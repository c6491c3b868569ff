"""``motionpredict report RUN [--pdf]``: self-contained HTML (and PDF) report of a run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``report`` sub-command."""
    p = subparsers.add_parser(
        "report",
        help="write an HTML (and PDF) report of an evaluation run or a prediction",
        description=(
            "Error vs horizon per method with spread, per-sequence tables, true vs predicted "
            "traces, frame triplets with the ROI, latency per stage, chosen settings, version and "
            "de-identified provenance."
        ),
    )
    p.add_argument("run_dir", type=Path, metavar="RUN", help="run folder (holds results.sqlite)")
    p.add_argument("--pdf", action="store_true", help="also write report.pdf")
    p.add_argument("--out", type=Path, default=None, help="folder to write to (default: RUN)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Execute ``report``."""
    from motionpredict.report import build_report

    for path in build_report(args.run_dir, pdf=args.pdf, out_dir=args.out):
        print(path)
    return 0
