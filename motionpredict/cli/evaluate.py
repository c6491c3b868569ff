"""``motionpredict evaluate CONFIG.toml``: batch evaluation, locally or on a Dask cluster."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``evaluate`` sub-command."""
    p = subparsers.add_parser(
        "evaluate",
        help="run the evaluation protocol over sequences x methods x horizons x seeds",
        description=(
            "Run the published protocol (grid search on the validation window, numbers on the "
            "test window only) for every combination in CONFIG.toml. Results go to an SQLite "
            "store in the run folder, one job committed at a time; --resume completes an "
            "interrupted run without recomputing finished jobs."
        ),
    )
    p.add_argument("config", type=Path, metavar="CONFIG.toml", help="evaluation configuration")
    p.add_argument("--out", type=Path, default=None,
                   help="run folder (default: [run] output of the config, else CONFIG's name "
                        "next to it)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="address of an existing Dask scheduler (default: [run] address; "
                        "local joblib processes when neither is given)")
    p.add_argument("--resume", action="store_true", help="complete an interrupted run")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="local worker processes (default: [run] jobs, else 1)")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None,
                   help="where the RNN grid searches run (default: [evaluation] device, else "
                        "cpu); cuda runs every grid of one (k, q) as one batched GPU job "
                        "(float64, same numbers as the loop)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Execute ``evaluate``."""
    from motionpredict.errors import ConfigurationError
    from motionpredict.evaluation.batch import run_evaluation
    from motionpredict.evaluation.config import load_config
    from motionpredict.evaluation.protocol import check_device

    cfg = load_config(args.config)
    device = getattr(args, "device", None)
    if device is not None:
        cfg.device = device
        if device == "cuda":
            cfg.rnn_backend = "batched"
    check_device(cfg.device)
    if args.jobs is not None and args.jobs < 1:
        raise ConfigurationError(f"--jobs must be >= 1, got {args.jobs}")
    out = args.out or cfg.output or args.config.resolve().parent / args.config.stem
    s = run_evaluation(cfg, out, resume=args.resume, jobs=args.jobs, scheduler=args.scheduler,
                       progress=not args.no_progress)
    print(f"{s.run_dir}: {s.computed} job(s) computed, {s.skipped} already done, "
          f"{s.errors} error(s), {s.total} in all", file=sys.stdout)
    return 1 if s.errors else 0
