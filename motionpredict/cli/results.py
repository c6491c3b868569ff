"""``motionpredict results RUN``: export a run's results as CSV, JSON or Markdown."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``results`` sub-command."""
    p = subparsers.add_parser(
        "results",
        help="export the results of an evaluation run",
        description="Print (or write) one row per job, or the mean and spread over seeds.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN", help="run folder (holds results.sqlite)")
    p.add_argument("--format", choices=("csv", "json", "markdown"), default="csv")
    p.add_argument("--summary", action="store_true",
                   help="mean and standard deviation over seeds instead of one row per job")
    p.add_argument("--output", "-o", type=Path, default=None, help="write to this file")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Execute ``results``."""
    from motionpredict.evaluation.store import ResultStore
    from motionpredict.evaluation.tables import export, job_rows, summary_rows
    from motionpredict.io.atomic import atomic_path

    with ResultStore(args.run_dir, create=False) as store:
        rows = job_rows(list(store.rows()))
    if args.summary:
        rows = summary_rows(rows)
    text = export(rows, args.format)
    if args.output is None:
        sys.stdout.write(text)
    else:
        with atomic_path(args.output) as tmp:
            Path(tmp).write_text(text)
    return 0
