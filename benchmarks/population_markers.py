"""Population transformer, leave one sequence out, on the external-marker data (10 Hz).

For each held-out sequence of the development set and each horizon, population weights are
trained with ``motionpredict train-population`` on the *other* sequences (``--exclude`` the
held-out one; every sample of the other patients, ``--targets all``: they are archived recordings
of other patients, none of their samples is the held-out patient's future), then the held-out
sequence is forecast and scored on its **test window** by
:func:`motionpredict.evaluation.protocol.evaluate_markers`, the function every marker job of
``motionpredict evaluate`` runs (standardised with its own training window, 3D positions in mm,
RMSE, nRMSE, relative RMSE = RMSE / RMSE of no prediction), so the numbers compare with
``docs/results-markers.md``. The sequence-specific ``transformer`` with the same settings (the
single setting of ``benchmarks/configs/markers_10hz_offline.toml``) runs in the same process as
the baseline.

    nice -n 19 .venv/bin/python benchmarks/population_markers.py \\
        [--data ../shared/data] [--horizons 0.1 0.5 1.0 2.1] [--epochs 50] [--d-model 16]
        [--targets all|before-test] [--seed 0] [--no-baseline] [--keep DIR]

The defaults (k 12, d_model 16, 1 layer, lr 5e-4, 50 epochs: the forecaster's defaults and the
setting of the sequence-specific runs) take about 15 min of CPU for 5 sequences x 4 horizons
(904 s measured, 38 s per population model); ``--targets before-test`` trains on the pairs whose
target precedes each other sequence's test window only (about 3 times cheaper, worse results,
see docs/forecasters.md).

Prints per-sequence and mean tables and the CPU time of each part. Needs the reference data
(``../shared/data/markers``); nothing is written outside a temporary folder unless ``--keep DIR``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from motionpredict.cli.main import main as cli_main
from motionpredict.evaluation.batch import load_sequence
from motionpredict.evaluation.protocol import evaluate_markers, steps_for
from motionpredict.forecasters.transformer import load_population

REPO = Path(__file__).resolve().parents[1]
SEQUENCES = ("markers-1", "markers-2", "markers-3", "markers-5", "markers-8")
PERIOD_S = 0.1
FILE = "resampled_10hz.mat"


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data",
                    help="reference data folder (holds markers/markers-N)")
    ap.add_argument("--sequences", nargs="+", default=list(SEQUENCES))
    ap.add_argument("--horizons", type=float, nargs="+", default=[0.1, 0.5, 1.0, 2.1],
                    help="horizons in s (whole numbers of 0.1 s)")
    ap.add_argument("--k", type=int, default=12, help="history length, samples")
    ap.add_argument("--d-model", type=int, default=16)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--targets", choices=("all", "before-test"), default="all",
                    help="pairs of the training sequences (default all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the sequence-specific transformer")
    ap.add_argument("--keep", type=Path, default=None, help="keep the weights files here")
    return ap.parse_args()


def train(paths: list[Path], held_out: str, horizon_s: float, out: Path,
          args: argparse.Namespace) -> tuple[dict[str, Any], float, float]:
    """Run ``motionpredict train-population``; return what the file records, wall and CPU time."""
    argv = ["train-population", *map(str, paths), "--frame-period-s", str(PERIOD_S),
            "--horizon", str(horizon_s), "--exclude", held_out, "--out", str(out),
            "--k", str(args.k), "--d-model", str(args.d_model), "--layers", str(args.layers),
            "--lr", str(args.lr), "--epochs", str(args.epochs), "--targets", args.targets,
            "--seed", str(args.seed), "--no-progress"]
    buf = io.StringIO()
    t0, c0 = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(buf):
        rc = cli_main(argv)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if rc != 0:
        raise SystemExit(f"train-population failed ({rc}): {' '.join(argv)}")
    meta, _ = load_population(out)
    used = [s["name"] for s in meta["training"]["sequences"]]
    if held_out in used or meta["frame_period_s"] != PERIOD_S:
        raise SystemExit(f"{out}: trained on {used} at {meta['frame_period_s']} s")
    return {"pairs": meta["n_pairs"], "loss": meta["final_loss"], "used": used}, wall, cpu


def score(loaded: Any, method: str, h: int, params: dict[str, Any], seed: int
          ) -> tuple[dict[str, float], float]:
    """Test-window metrics of one setting, exactly as a ``motionpredict evaluate`` job."""
    c0 = time.process_time()
    res = evaluate_markers(loaded.data, loaded.splits, method=method, horizon_steps=h,
                           mode="causal", seed=seed, grid=[params])
    m = dict(res.metrics)
    m["rel_rmse"] = m["rmse_mm"] / m["no_prediction_rmse_mm"]
    return m, time.process_time() - c0


def main() -> int:
    args = parse_args()
    folder = args.data / "markers"
    if not folder.is_dir():
        raise SystemExit(f"{folder}: reference marker data not found (use --data)")
    paths = [folder / s / FILE for s in args.sequences]
    loaded = {s: load_sequence({"path": str(p), "frame_period_s": PERIOD_S})
              for s, p in zip(args.sequences, paths, strict=True)}
    arch = {"k": args.k, "d_model": args.d_model, "layers": args.layers, "lr": args.lr,
            "epochs": args.epochs}
    keep = args.keep
    tmp = tempfile.TemporaryDirectory(prefix="population-") if keep is None else None
    wdir = Path(tmp.name) if tmp is not None else keep
    assert wdir is not None
    wdir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    t_start, c_start = time.perf_counter(), time.process_time()
    print(f"leave-one-out population transformer, 10 Hz, {len(paths)} sequences, horizons "
          f"{args.horizons} s; k {args.k}, d_model {args.d_model}, layers {args.layers}, "
          f"lr {args.lr:g}, {args.epochs} epochs, targets {args.targets}, seed {args.seed}",
          flush=True)
    for name in args.sequences:
        seq = loaded[name]
        for hs in args.horizons:
            h = steps_for(hs, PERIOD_S, False)
            wpath = wdir / f"pop-{name}-out-h{h}.pt"
            summary, tr_wall, tr_cpu = train(paths, name, hs, wpath, args)
            pop, pop_cpu = score(seq, "transformer-population", h,
                                 {**arch, "weights_path": str(wpath), "frame_period_s": PERIOD_S},
                                 args.seed)
            row = {"seq": name, "h_s": hs, "h": h, **summary, "train_wall": tr_wall,
                   "train_cpu": tr_cpu, "pop": pop, "pop_cpu": pop_cpu}
            if not args.no_baseline:
                row["seq_tf"], row["seq_cpu"] = score(seq, "transformer", h, arch, args.seed)
            rows.append(row)
            print(f"  {name} h {hs:g} s: population rel. RMSE {pop['rel_rmse']:.3f}"
                  + (f", sequence-specific {row['seq_tf']['rel_rmse']:.3f}"
                     if "seq_tf" in row else "")
                  + f" (train {tr_cpu:.0f} s CPU)", flush=True)
    wall, cpu = time.perf_counter() - t_start, time.process_time() - c_start
    base = not args.no_baseline

    print("\n### Per sequence (test window, causal)\n")
    head = "| sequence | h (s) | training pairs | final loss | RMSE (mm) | nRMSE | rel. RMSE |"
    sep = "|---|---:|---|---:|---:|---:|---:|"
    if base:
        head += " seq. transformer rel. RMSE |"
        sep += "---:|"
    head += " no prediction RMSE (mm) | train CPU (s) |"
    sep += "---:|---:|"
    print(head)
    print(sep)
    for r in rows:
        p = r["pop"]
        line = (f"| {r['seq']} | {r['h_s']:g} | {r['pairs']} | {r['loss']:.4f} | "
                f"{p['rmse_mm']:.3f} | {p['nrmse']:.3f} | {p['rel_rmse']:.3f} |")
        if base:
            line += f" {r['seq_tf']['rel_rmse']:.3f} |"
        line += f" {p['no_prediction_rmse_mm']:.3f} | {r['train_cpu']:.1f} |"
        print(line)

    print(f"\n### Mean over the {len(args.sequences)} sequences\n")
    head = ("| h (s) | population rel. RMSE | population nRMSE | population RMSE (mm) |")
    sep = "|---:|---:|---:|---:|"
    if base:
        head += " seq. transformer rel. RMSE | seq. transformer nRMSE | population / seq. |"
        sep += "---:|---:|---:|"
    head += " sequences where population < 1 |"
    sep += "---:|"
    print(head)
    print(sep)
    for hs in args.horizons:
        sel = [r for r in rows if r["h_s"] == hs]
        rel = np.mean([r["pop"]["rel_rmse"] for r in sel])
        line = (f"| {hs:g} | {rel:.3f} | {np.mean([r['pop']['nrmse'] for r in sel]):.3f} | "
                f"{np.mean([r['pop']['rmse_mm'] for r in sel]):.3f} |")
        if base:
            srel = np.mean([r["seq_tf"]["rel_rmse"] for r in sel])
            line += (f" {srel:.3f} | {np.mean([r['seq_tf']['nrmse'] for r in sel]):.3f} | "
                     f"{rel / srel:.2f} |")
        line += f" {sum(r['pop']['rel_rmse'] < 1 for r in sel)}/{len(sel)} |"
        print(line)

    tr = sum(r["train_cpu"] for r in rows)
    pc = sum(r["pop_cpu"] for r in rows)
    tw = sum(r["train_wall"] for r in rows)
    print(f"\nCPU time: population training {tr:.0f} s (wall {tw:.0f} s), population "
          f"forecasting + scoring {pc:.0f} s"
          + (f", sequence-specific transformer (fit twice + forecast, as evaluate does) "
             f"{sum(r['seq_cpu'] for r in rows):.0f} s" if base else "")
          + f"; whole run {cpu:.0f} s CPU, {wall:.0f} s wall")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
