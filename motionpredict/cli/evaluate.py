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
    out = Path(args.out or cfg.output or args.config.resolve().parent / args.config.stem)
    existed = out.exists()
    try:
        s = run_evaluation(cfg, out, resume=args.resume, jobs=args.jobs,
                           scheduler=args.scheduler, progress=not args.no_progress,
                           force=getattr(args, "force", False))
    except Exception:
        _remove_if_empty_run(out, existed)  # a refused run leaves nothing behind
        raise
    print(f"{s.run_dir}: {s.computed} job(s) computed, {s.skipped} already done, "
          f"{s.errors} error(s), {s.total} in all", file=sys.stdout)
    if s.errors:
        _print_errors(s.run_dir)
    return 1 if s.errors else 0


def _remove_if_empty_run(out: Path, existed: bool) -> None:
    """Delete a run folder this command created when it holds no finished job."""
    import shutil

    from motionpredict.evaluation.store import STORE_NAME, ResultStore

    if existed or not out.is_dir():
        return
    if (out / STORE_NAME).is_file():
        with ResultStore(out, create=False) as st:
            if len(st):
                return
    shutil.rmtree(out, ignore_errors=True)


def _print_errors(run_dir: Path, limit: int = 5) -> None:
    """The distinct error messages of failed jobs, one line each, on stderr."""
    from motionpredict.evaluation.store import ResultStore

    counts: dict[str, int] = {}
    with ResultStore(run_dir, create=False) as st:
        for row in st.rows():
            err = row["result"].get("error")
            if err:
                line = " ".join(str(err).split())
                counts[line] = counts.get(line, 0) + 1
    for line, n in list(counts.items())[:limit]:
        print(f"motionpredict evaluate: job error ({n} job(s)): {line}", file=sys.stderr)
    if len(counts) > limit:
        print(f"motionpredict evaluate: {len(counts) - limit} more distinct error(s); "
              f"see motionpredict results {run_dir}", file=sys.stderr)
