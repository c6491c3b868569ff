"""Our numbers next to the published ones, under the published protocol.

Finds every sequence folder (with a ``sequence.json``) under ``--data``, runs the protocol of
:mod:`motionpredict.evaluation.protocol` (registration with the sequence's reference LK parameters,
PCA on the training frames, hyper-parameters and number of components chosen per horizon on the
validation window, numbers on the test window only) in both modes, and prints per dataset, method
and horizon the mean geometric error (whole image and ROI) beside
``reference_results.csv``; for marker sequences the mean nRMSE beside the averages of the data
README. Results are stored in ``--out`` (one run folder per dataset), so an interrupted run resumes.

    python benchmarks/paper_comparison.py --data ../shared/data [--grid reduced|published]
        [--methods ...] [--seeds 1] [--modes causal reference] [--jobs 2] [--out paper-run]

``--grid reduced`` (default) keeps two values of each RNN axis (k: first and middle of the
published grid, q: {10, 30}, eta: {0.01, 0.02}) and n_components {1, 2, 3}; ``--grid published``
uses the published grids and n_components {1, 2, 3, 4}. Published runs use 10-250 random
initialisations per RNN; ``--seeds`` sets ours (default 1).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from motionpredict.evaluation.batch import run_evaluation
from motionpredict.evaluation.config import EvalConfig
from motionpredict.evaluation.stats import spread
from motionpredict.evaluation.store import ResultStore

#: Our method names -> the names in reference_results.csv.
PUBLISHED_NAME = {
    "no-prediction": "no pred. (last PCA wt)", "linear": "linear regr.", "lms": "LMS",
    "rtrl": "RTRL", "uoro": "UORO", "snap1": "SnAp-1", "dni": "DNI",
    "rnn-fixed": "fixed-W RNN", "transformer": "seq. transformer",
}
RNNS = ("rtrl", "uoro", "snap1", "dni", "rnn-fixed")
K_GRID = {"ETH": [6, 12, 18, 24, 30], "OvGU": [11, 23, 34, 45, 57],
          "10hz": [12, 24, 36, 48, 60], "3.33hz": [4, 8, 12, 16, 20],
          "30hz": [36, 72, 108, 144, 180]}
MARKER_PUBLISHED = {"10hz": ("snap1", 0.157), "3.33hz": ("snap1", 0.335), "30hz": ("uoro", 0.086)}
MARKER_LMS_ETA = {"3.33hz": [2e-4, 5e-4, 1e-3], "10hz": [1e-4, 2e-4, 5e-4],
                  "30hz": [5e-5, 1e-4, 2e-4]}


def grids(group: str, methods: list[str], reduced: bool, markers: bool) -> dict[str, Any]:
    """Per-method grid overrides for a dataset group."""
    k = [K_GRID[group][0], K_GRID[group][2]] if reduced else K_GRID[group]
    out: dict[str, dict[str, Any]] = {}
    for m in methods:
        if m in RNNS:
            q = ([10, 25, 40] if m == "rtrl" else [30, 60, 90, 120, 150, 180]) if markers \
                else [10, 30, 50, 70, 90, 110]
            eta = [0.005, 0.01, 0.02] if markers else [0.005, 0.01, 0.015, 0.02]
            if reduced:
                q, eta = [10, 30], [0.01, 0.02]
            out[m] = {"k": k, "q": q, "eta": eta}
        elif m == "lms":
            out[m] = {"k": k, "eta": MARKER_LMS_ETA.get(group, [0.02, 0.05, 0.1, 0.2])}
        elif m in ("linear", "transformer", "svr"):
            out[m] = {"k": k}
    return out


def discover(data: Path) -> dict[str, list[dict[str, Any]]]:
    """Sequence specs grouped by dataset (ETH, OvGU, 10hz markers)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for side in sorted(data.rglob("sequence.json")):
        meta = json.loads(side.read_text())
        kind = meta.get("kind")
        spec: dict[str, Any] = {"path": str(side.parent), "name": meta.get("name",
                                                                           side.parent.name)}
        if kind == "cine-mri-2d":
            if meta.get("pixel_spacing_mm") is None:
                spec["spacing_mm"] = [1.0, 1.0]  # the published convention, 1 px = 1 mm
            groups[meta.get("dataset", "cine")].append(spec)
        elif kind == "external-markers-3d":
            groups["10hz"].append(spec)
    return groups


def published_cine(data: Path) -> dict[tuple, float]:
    """``(sequence, region, method, horizon_steps) -> value`` from reference_results.csv."""
    out = {}
    path = data / "reference_results.csv"
    if path.is_file():
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh):
                out[(r["sequence"], r["region"], r["method"], int(r["horizon_steps"]))] = float(
                    r["value"])
    return out


def _pm(s: Any) -> str:
    return f"{s.mean:.3f}" + (f" ± {s.std:.3f}" if s.n > 1 else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("paper-run"))
    ap.add_argument("--grid", choices=("reduced", "published"), default="reduced")
    ap.add_argument("--methods", nargs="+", default=list(PUBLISHED_NAME))
    ap.add_argument("--modes", nargs="+", default=["causal", "reference"])
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--datasets", nargs="+", default=None,
                    help="subset of ETH OvGU 10hz (default: all found)")
    ap.add_argument("--horizons", type=int, nargs="+", default=None,
                    help="horizons in frames (default: the sidecar's)")
    args = ap.parse_args()
    reduced = args.grid == "reduced"
    ref = published_cine(args.data)
    found = discover(args.data)
    print(f"# paper comparison: grid {args.grid}, seeds {args.seeds}, modes {args.modes}, "
          f"methods {args.methods}")
    for group, specs in sorted(found.items()):
        if args.datasets and group not in args.datasets:
            continue
        markers = group.endswith("hz")
        methods = [m for m in args.methods if not (markers and m == "transformer")]
        cfg = EvalConfig(
            sequences=specs, methods=methods, modes=args.modes,
            seeds=list(range(args.seeds)), horizons_steps=args.horizons,
            n_components=[1, 2, 3] if reduced else [1, 2, 3, 4],
            grids=grids(group, methods, reduced, markers), jobs=args.jobs, name=group)
        t0 = time.perf_counter()
        summ = run_evaluation(cfg, args.out / group, resume=True, progress=True)
        wall = time.perf_counter() - t0
        print(f"\n## {group}: {len(specs)} sequence(s), {summ.total} jobs ({summ.computed} run now,"
              f" {summ.skipped} resumed, {summ.errors} errors) in {wall:.0f} s")
        with ResultStore(args.out / group) as st:
            rows = [r for r in st.rows() if "error" not in r["result"]]
        cells: dict[tuple, list[dict[str, float]]] = defaultdict(list)
        for r in rows:
            s = r["spec"]
            cells[(s["sequence_name"], s["method"], s["mode"], s["horizon_steps"],
                   s["horizon_s"])].append(r["result"]["metrics"])
        if markers:
            print("| sequence | method | mode | mean nRMSE over horizons | published best avg |")
            print("|---|---|---|---|---|")
            agg: dict[tuple, list[float]] = defaultdict(list)
            for (seq, m, mode, _h, _hs), ms in cells.items():
                agg[(seq, m, mode)].append(spread([x["nrmse"] for x in ms]).mean)
            pub_m, pub_v = MARKER_PUBLISHED[group]
            for (seq, m, mode), v in sorted(agg.items()):
                pub = f"{pub_v} ({PUBLISHED_NAME[pub_m]}, 9 seq.)" if m == pub_m else ""
                print(f"| {seq} | {m} | {mode} | {sum(v) / len(v):.3f} | {pub} |")
            continue
        print("| sequence | method | mode | h (frames) | h (s) | ours whole (mm) | published "
              "whole | ours ROI (mm) | published ROI |")
        print("|---|---|---|---|---|---|---|---|---|")
        for (seq, m, mode, h, hs), ms in sorted(cells.items()):
            key = "KS81" if seq == "ovgu-ks81" else seq
            pw = ref.get((key, "whole", PUBLISHED_NAME.get(m, m), h))
            pr = ref.get((key, "roi", PUBLISHED_NAME.get(m, m), h))
            w = spread([x["dvf_mean_mm"] for x in ms])
            roi = spread([x.get("dvf_roi_mean_mm", float("nan")) for x in ms])
            print(f"| {seq} | {m} | {mode} | {h} | {hs:.4g} | {_pm(w)} | "
                  f"{'' if pw is None else pw} | {_pm(roi)} | {'' if pr is None else pr} |")


if __name__ == "__main__":
    main()
