"""``motionpredict train-population SEQ... --horizon 0.5 --out pop.pt``: population transformer.

Trains the weights of the ``transformer-population`` forecaster on marker sequences of *other*
patients: each sequence is standardised with the statistics of its own training window (splits
from its ``sequence.json``, else ``--train-s``), the pairs ``(last k samples, sample h ahead)`` of
every sequence are pooled, and the network is trained with Adam. The weights file records the
architecture, the horizon (samples), the number of features, the sampling period (s), the
standardisation convention and which sequences were used; it is written atomically.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from motionpredict.errors import ConfigurationError, InputFileError, MissingMetadataError

#: Largest distance (in samples) of ``horizon / period`` from a whole number that is accepted.
HORIZON_TOLERANCE_SAMPLES = 1e-6
#: Relative tolerance between the sampling periods of the sequences (and ``--frame-period-s``).
PERIOD_RTOL = 1e-6
#: Which targets of each sequence make training pairs (``--targets``).
TARGET_CHOICES = ("all", "train", "before-test")
#: Architecture options: flag, type, default shown in ``--help`` (the forecaster's own default,
#: written out so that building the parser does not import the forecasters; a test compares
#: them), meaning.
ARCH_OPTIONS: tuple[tuple[str, type, float, str], ...] = (
    ("--k", int, 12, "history length in samples"),
    ("--d-model", int, 16, "embedding width"),
    ("--layers", int, 1, "encoder layers"),
    ("--heads", int, 2, "attention heads"),
    ("--dropout", float, 0.5, "dropout probability while training"),
    ("--lr", float, 5e-4, "Adam learning rate"),
    ("--batch", int, 32, "mini-batch size"),
    ("--epochs", int, 50, "passes over the pairs"),
)


@dataclass
class TrainingSequence:
    """One sequence ready for training.

    Attributes
    ----------
    name
        Name from its ``sequence.json``, else the file or folder name.
    path
        The file or folder given.
    z
        ``(T_used, p)`` series standardised with its training window, cut after the last target
        that ``--targets`` allows.
    n_samples
        Samples in the whole sequence.
    train
        ``(start, stop)`` training window (0-based, stop exclusive) used for the statistics.
    window_source
        Where the training window came from (``sidecar (10hz)``, ``--train-s``).
    period_s
        Sampling period in s.
    """

    name: str
    path: Path
    z: np.ndarray
    n_samples: int
    train: tuple[int, int]
    window_source: str
    period_s: float


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``train-population`` sub-command."""
    p = subparsers.add_parser(
        "train-population",
        help="train population transformer weights on other patients' marker sequences",
        description=(
            "Train the weights of the transformer-population forecaster on marker sequences of "
            "other patients. Each sequence is standardised with its own training window (splits "
            "of its sequence.json, else --train-s); the pairs of every sequence are pooled. The "
            ".pt file records the architecture, horizon, number of features, sampling period "
            "and standardisation; the forecaster refuses it for other settings."
        ),
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="SEQ",
                   help="marker CSV folder or file, or resampled_*hz.mat (org_data) file; a "
                        "folder of sequence folders (each with a sequence.json) adds each of them")
    p.add_argument("--horizon", type=float, required=True, metavar="S",
                   help="forecast horizon in s; a whole number of sample periods (within 1e-6)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.pt",
                   help="weights file to write (replaced atomically)")
    p.add_argument("--frame-period-s", type=float, default=None, metavar="S",
                   help="sampling period in s: required for .mat files (they do not store it), "
                        "checked against files that state their own (CSV timestamps)")
    p.add_argument("--train-s", type=float, default=None, metavar="S",
                   help="training window (s from the first sample) of sequences whose "
                        "sequence.json gives no splits; the sidecar's window wins otherwise")
    p.add_argument("--targets", choices=TARGET_CHOICES, default="all",
                   help="pairs used: all (default: every sample of these other patients), train "
                        "(targets in the training window) or before-test (targets before the "
                        "test window of the sidecar splits)")
    p.add_argument("--exclude", action="append", default=[], metavar="NAME",
                   help="leave a sequence out (its name, e.g. markers-1, or its path); repeatable")
    arch = p.add_argument_group(
        "architecture and training (defaults: those of the transformer-population forecaster)")
    for flag, kind, default, doc in ARCH_OPTIONS:
        arch.add_argument(flag, type=kind, default=None,
                          help=f"{doc} (default {default:g})")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights and batches")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def horizon_samples(horizon_s: float, period_s: float) -> int:
    """Horizon in samples; refuse one that is not a whole number of periods within 1e-6.

    Parameters
    ----------
    horizon_s
        Horizon in s (> 0).
    period_s
        Sampling period in s (> 0).

    Raises
    ------
    ConfigurationError
        Non-positive horizon, or not a whole number of sample periods.
    """
    if not (math.isfinite(horizon_s) and horizon_s > 0):
        raise ConfigurationError(f"--horizon must be a positive time in s, got {horizon_s:g}")
    ratio = horizon_s / period_s
    steps = round(ratio)
    if steps < 1 or abs(ratio - steps) > HORIZON_TOLERANCE_SAMPLES:
        near = max(steps, 1) * period_s
        raise ConfigurationError(
            f"--horizon {horizon_s:g} s is {ratio:.6f} sample periods of {period_s:g} s, not a "
            f"whole number; use a multiple of the period, e.g. {near:.6g} s")
    return int(steps)


def _specs(paths: list[Path], period: float | None) -> list[dict[str, Any]]:
    from motionpredict.evaluation.batch import expand_sequences

    specs = []
    for path in paths:
        if not path.exists():
            raise InputFileError(path, "no such file or folder")
        spec: dict[str, Any] = {"path": str(path)}
        if period is not None:
            spec["frame_period_s"] = period
        specs.extend(expand_sequences([spec]))
    seen: set[Path] = set()
    for spec in specs:
        resolved = Path(spec["path"]).resolve()
        if resolved in seen:
            raise ConfigurationError(f"{spec['path']}: sequence given twice")
        seen.add(resolved)
        if Path(spec["path"]).suffix.lower() == ".mat" and period is None:
            raise MissingMetadataError(
                f"{spec['path']}: a .mat marker file does not store its sampling period; give "
                "--frame-period-s S (e.g. 0.1 for 10 Hz, 0.3 for 3.33 Hz)")
    return specs


def _excluded(spec: dict[str, Any], name: str, exclude: list[str]) -> str | None:
    path = Path(spec["path"]).resolve()
    for item in exclude:
        if item == name or Path(item).resolve() == path:
            return item
    return None


def _prepare(spec: dict[str, Any], args: argparse.Namespace, loaded: Any) -> TrainingSequence:
    """Standardise one loaded sequence with its own training window; cut it per ``--targets``."""
    from motionpredict.forecasters import Standardizer
    from motionpredict.sequences import PointTrajectories

    path = Path(spec["path"])
    data = loaded.data
    if not isinstance(data, PointTrajectories):
        raise InputFileError(path, "not a marker series (population weights are trained on "
                                   "marker positions; images have patient-specific PCA modes)")
    n = data.n_samples
    period = float(loaded.period_s)
    if loaded.splits.source.startswith("sidecar"):
        train = loaded.splits.train
        source = loaded.splits.source
        before_test = loaded.splits.test[0]
    elif args.train_s is not None:
        if not (math.isfinite(args.train_s) and args.train_s > 0):
            raise ConfigurationError(f"--train-s must be a positive time in s, got {args.train_s}")
        stop = math.ceil(args.train_s / period - 1e-9)
        if not 2 <= stop <= n:
            raise InputFileError(path, f"--train-s {args.train_s:g} s holds {stop} samples of "
                                       f"{period:g} s; need 2 to {n} (the sequence's length)")
        train, source, before_test = (0, stop), f"--train-s {args.train_s:g}", None
    else:
        raise MissingMetadataError(
            f"{path}: no training window: no sequence.json with splits for this sampling rate; "
            "give --train-s S (the statistics of the first S seconds standardise the sequence)")
    series = data.as_series()
    z = Standardizer(series[train[0]: train[1]]).transform(series)
    if args.targets == "train":
        z = z[: train[1]]
    elif args.targets == "before-test":
        if before_test is None:
            raise ConfigurationError(f"{path}: --targets before-test needs the test window of a "
                                     "sequence.json; this sequence has only --train-s")
        z = z[:before_test]
    return TrainingSequence(name=loaded.name, path=path, z=z, n_samples=n, train=train,
                            window_source=source, period_s=period)


def load_training_sequences(args: argparse.Namespace) -> tuple[list[TrainingSequence], float]:
    """Load, check and standardise the sequences named on the command line.

    Returns
    -------
    sequences, period_s
        The sequences kept (after ``--exclude``) and their common sampling period in s.
    """
    from motionpredict.evaluation.batch import load_sequence

    period = args.frame_period_s
    if period is not None and not (math.isfinite(period) and period > 0):
        raise ConfigurationError(f"--frame-period-s must be a positive time in s, got {period}")
    specs = _specs(list(args.paths), period)
    used_excludes: set[str] = set()
    out: list[TrainingSequence] = []
    for spec in specs:
        try:
            loaded = load_sequence(spec)
        except ConfigurationError as exc:  # sidecar splits that do not fit: wrong period?
            raise InputFileError(spec["path"], f"the splits of its sequence.json do not fit it "
                                               f"({exc}); is the sampling period right?") from None
        hit = _excluded(spec, loaded.name, args.exclude)
        if hit is not None:
            used_excludes.add(hit)
            continue
        seq = _prepare(spec, args, loaded)
        ref = period if period is not None else (out[0].period_s if out else seq.period_s)
        if not math.isclose(seq.period_s, ref, rel_tol=PERIOD_RTOL):
            what = ("as --frame-period-s says" if period is not None
                    else f"as {out[0].path} is")
            raise InputFileError(seq.path, f"sampled every {seq.period_s:g} s, not every "
                                           f"{ref:g} s {what}; train one file per sampling "
                                           "period")
        if out and seq.z.shape[1] != out[0].z.shape[1]:
            raise InputFileError(seq.path, f"{seq.z.shape[1]} coordinates, but {out[0].path} has "
                                           f"{out[0].z.shape[1]}; every sequence needs the same "
                                           "markers")
        out.append(seq)
    unused = [e for e in args.exclude if e not in used_excludes]
    if unused:
        raise ConfigurationError(f"--exclude {unused[0]}: no such sequence among the inputs "
                                 f"({', '.join(s['path'] for s in specs)})")
    if not out:
        raise ConfigurationError("no training sequence left after --exclude")
    return out, float(period if period is not None else out[0].period_s)


def run(args: argparse.Namespace) -> int:
    """Execute ``train-population``."""
    from motionpredict.forecasters.transformer import population_params, train_population

    t0, c0 = time.perf_counter(), time.process_time()
    names = [flag[2:].replace("-", "_") for flag, _, _, _ in ARCH_OPTIONS]
    params = population_params(**{n: getattr(args, n) for n in names
                                  if getattr(args, n) is not None})
    seqs, period = load_training_sequences(args)
    h = horizon_samples(args.horizon, period)
    rows: list[dict[str, Any]] = []
    for s in seqs:
        pairs = len(s.z) - h
        if pairs < 1:
            raise InputFileError(s.path, f"{len(s.z)} samples with targets allowed by --targets "
                                         f"{args.targets}: no pair at horizon {h} samples")
        rows.append({"name": s.name, "file": s.path.name, "samples": s.n_samples,
                     "train_window": [s.train[0] + 1, s.train[1]],
                     "window_source": s.window_source, "pairs": pairs})
    info = {"sequences": rows, "targets": args.targets, "horizon_s": float(args.horizon),
            "convention": "train_window: 1-based inclusive sample indices"}
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=int(params["epochs"]), desc="epochs", unit="epoch", file=sys.stderr,
                   leave=False)

    def progress(epoch: int, loss: float) -> None:
        if bar is not None:
            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            bar.update(1)

    try:
        losses = train_population([s.z for s in seqs], args.out, horizon=h, seed=args.seed,
                                  frame_period_s=period, info=info, progress=progress, **params)
    finally:
        if bar is not None:
            bar.close()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n_pairs = sum(r["pairs"] for r in rows)
    print(f"population transformer: {len(seqs)} sequence(s), {n_pairs} pairs, horizon "
          f"{args.horizon:g} s = {h} samples of {period:g} s, targets: {args.targets}")
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"  {r['name']:<{width}}  {r['samples']:>6} samples  {r['pairs']:>6} pairs  "
              f"standardised on samples {r['train_window'][0]}-{r['train_window'][1]} "
              f"({r['window_source']})")
    print(", ".join(f"{name} {value:g}" for name, value in params.items())
          + f", seed {args.seed}")
    print(f"epochs {len(losses)}: training loss {losses[0]:.4f} -> {losses[-1]:.4f} (mean squared "
          "error of the standardised increment)")
    print(f"time {wall:.1f} s wall, {cpu:.1f} s CPU")
    print(f"wrote {args.out}")
    return 0
