"""The plausibility guard (issue #14): RMSE of every method before/after, and the choice of its
thresholds by leave-one-sequence-out on the development marker sequences.

Protocol: the 9 marker coordinates of ``resampled_10hz.mat`` (mm) of every sequence under
``../shared/data/markers``, standardised with the training window (first 30 s); causal mode,
default settings of every method (plus SnAp-1 at its published marker setting k 60, q 40,
eta 0.02, ``snap1-pub``); offline methods fitted on the pairs whose target index is at most
``offline_last_training_target``. Error: RMSE in mm of the 3D positions of the 3 markers over the
test window (from 60 s on). No prediction's RMSE is printed beside.

For each (method, sequence, horizon) three runs are made:

* ``before``: ``guard=False`` (the behaviour before the guard);
* ``trace``: the guard with ``guard_ratio`` and ``guard_margin`` infinite, i.e. only the resets
  (``guard_reset_ratio``, ``guard_window``) and their probation act; the learner's raw forecast,
  the running envelope and both error averages are recorded per step. The substitution by the
  envelope and by the error ratio does not change what the learner does, so the emitted forecasts
  of any ``(guard_ratio, guard_margin)`` are computed exactly from this trace;
* ``after``: the guard with the settings chosen; the script checks that it equals the trace's
  replay (to 1e-9).

Thresholds: the ``(guard_ratio, guard_margin)`` pair with the lowest mean
``log(RMSE / RMSE_no_prediction)`` over methods, horizons and sequences on the test window (the
worst ratio is printed beside). "development-fitted" uses all sequences; "leave-one-out" chooses
on the other four sequences and scores the held-out one. ``guard_reset_ratio`` (25) and
``guard_window`` (50 samples) are fixed, not tuned (every trajectory depends on them).

Usage::

    nice -n 5 .venv/bin/python benchmarks/guard.py [--methods snap1 rls] [--horizons 5 21] \
        [--json /tmp/guard.json]
    .venv/bin/python benchmarks/guard.py --from-json /tmp/guard.json   # analysis only
    nice -n 5 .venv/bin/python benchmarks/guard.py --step-study   # reset vs step-size reduction
    .venv/bin/python benchmarks/guard.py --timing   # cost of the guard per step
    nice -n 5 .venv/bin/python benchmarks/guard.py --cine   # check on the cine PCA weights

``--cine``: the same before/after on the reference implementation's 3 PCA weights of the cine
sequences (``reference_pca_weights.mat`` of eth-1 and ovgu-ks81; RMSE of the weights over the
test window, standardised with the training window), a check on data the thresholds were not
chosen on.

``--step-study``: the alternative to a plain reset, multiplying the RNN's learning rate by a
factor (0.5, 0.25) at every guard reset, against the reset alone (factor 1), for SnAp-1 and UORO
at their defaults and SnAp-1 at its published setting; prints RMSE / no prediction per sequence.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from motionpredict.forecasters import Standardizer, get, run_online
from motionpredict.forecasters.base import GUARD_FLOOR, GUARD_PARAMETERS

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "markers"
RATE = "10"
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "linear": ("linear", {}),
    "rls": ("rls", {}),
    "lms": ("lms", {}),
    "kalman": ("kalman", {}),
    "analog": ("analog", {}),
    "aggregator": ("aggregator", {}),
    "snap1": ("snap1", {}),
    "snap1-pub": ("snap1", {"k": 60, "q": 40, "eta": 0.02}),
    "uoro": ("uoro", {}),
    "dni": ("dni", {}),
    "rnn-fixed": ("rnn-fixed", {}),
}
RATIOS = (1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 1e300)
MARGINS = (0.25, 0.5, 1.0, 2.0, 4.0, 1e300)
DEFAULTS = {hp.name: hp.default for hp in GUARD_PARAMETERS}
INF = 1e300


def load(folder: Path) -> tuple[np.ndarray, dict]:
    """Return the ``(N, 9)`` series in mm and the 10 Hz split record."""
    y = scipy.io.loadmat(folder / f"resampled_{RATE}hz.mat")["org_data"].T.astype(np.float64)
    splits = json.loads((folder / "sequence.json").read_text())["splits"][f"{RATE}hz"]
    return y, splits


def rmse_mm(pred: np.ndarray, y: np.ndarray, sl: slice) -> float:
    """RMSE in mm of the 3D positions of the 3 markers over ``sl``."""
    err = (pred[sl] - y[sl]).reshape(-1, 3, 3)  # rows [x1 x2 x3 y1 y2 y3 z1 z2 z3]
    return float(np.sqrt(np.mean(np.sum(err**2, axis=1))))


def traced_run(fc: Any, z: np.ndarray, fit_until: int) -> dict[str, np.ndarray]:
    """Drive ``fc`` (guard ratio and margin infinite) and record the guard's inputs per step."""
    n, p = z.shape
    if not fc.online:
        fc.fit(z[:fit_until])
    raw = np.zeros((n, p))
    lo = np.zeros((n, p))
    hi = np.zeros((n, p))
    el = np.zeros(n)
    ef = np.zeros(n)
    warm = np.zeros(n, dtype=bool)
    forced = np.zeros(n, dtype=bool)
    for t in range(n):
        before = len(fc.guard_events)
        raw[t] = fc.step(z[t])
        forced[t] = len(fc.guard_events) != before  # divergence, reset or probation
        lo[t], hi[t] = fc._g_lo, fc._g_hi
        el[t], ef[t] = fc._g_el, fc._g_ef
        warm[t] = fc._g_n >= fc.guard_settings.window
    return {"raw": raw, "lo": lo, "hi": hi, "el": el, "ef": ef, "warm": warm, "forced": forced,
            "resets": np.asarray(len(fc.events))}


def replay(tr: dict[str, np.ndarray], z: np.ndarray, ratio: float, margin: float) -> np.ndarray:
    """Emitted forecasts ``(T, p)`` (indexed by issue time) for one ``(ratio, margin)``."""
    out_env = ((tr["raw"] < tr["lo"] - margin) | (tr["raw"] > tr["hi"] + margin)).any(axis=1)
    bad = tr["warm"] & (tr["el"] > ratio * tr["ef"] + GUARD_FLOOR)
    sub = tr["forced"] | out_env | bad
    return np.where(sub[:, None], z, tr["raw"]), sub


def aligned(pred_issued: np.ndarray, h: int) -> np.ndarray:
    """Forecasts indexed by issue time -> indexed by target time (NaN for the first ``h``)."""
    out = np.full_like(pred_issued, np.nan)
    out[h:] = pred_issued[:-h]
    return out


def one(folder: Path, key: str, h: int) -> dict[str, Any]:
    """Before / trace / after runs of one method on one sequence at one horizon."""
    name, params = METHODS[key]
    y, sp = load(folder)
    std = Standardizer(y[: sp["train"][1]])
    z = std.transform(y)
    test = slice(sp["test_from"] - 1, len(y))
    fit_until = sp["offline_last_training_target"]
    cls = get(name)
    t0 = time.perf_counter()
    before = run_online(cls(horizon=h, n_features=9, guard=False, **params), z, fit_until=fit_until)
    fc = cls(horizon=h, n_features=9, guard_ratio=INF, guard_margin=INF, **params)
    tr = traced_run(fc, z, fit_until)
    after = run_online(cls(horizon=h, n_features=9, **params), z, fit_until=fit_until)
    emitted, _ = replay(tr, z, DEFAULTS["guard_ratio"], DEFAULTS["guard_margin"])
    diff = np.nanmax(np.abs(aligned(emitted, h) - after.predicted))
    if not diff <= 1e-9:
        raise RuntimeError(f"{key} {folder.name} h={h}: replay differs from the run by {diff:.3g}")
    grid = {}
    for r in RATIOS:
        for m in MARGINS:
            e, _ = replay(tr, z, r, m)
            grid[f"{r:g}/{m:g}"] = rmse_mm(std.inverse(aligned(e, h)), y, test)
    last = np.full_like(y, np.nan)
    last[h:] = y[:-h]
    return {
        "before": rmse_mm(std.inverse(before.predicted), y, test),
        "after": rmse_mm(std.inverse(after.predicted), y, test),
        "no_prediction": rmse_mm(last, y, test),
        "guarded_after": int(np.count_nonzero(after.guarded[test])),
        "resets_before": len(before.events),
        "resets_after": len(after.events),
        "scored": int(np.count_nonzero(~np.isnan(after.predicted[test, 0]))),
        "grid": grid,
        "seconds": time.perf_counter() - t0,
    }


def cine(data: Path) -> None:
    """Before / after RMSE of the 3 reference PCA weights on the cine test windows."""
    root = data.parent / "cine_mri"
    for folder in sorted(root.glob("*/reference_pca_weights.mat")):
        seq = folder.parent
        sp = json.loads((seq / "sequence.json").read_text())["splits"]
        w = scipy.io.loadmat(folder)["org_data"].T.astype(np.float64)
        train, test = sp["online_methods"]["train"][1], sp["online_methods"]["test"]
        z = Standardizer(w[:train]).transform(w)
        sl = slice(test[0] - 1, test[1])
        for h in (1, 3):
            nop = np.sqrt(np.mean((z[sl.start - h: sl.stop - h] - z[sl]) ** 2))
            cells = []
            for key in ("aggregator", "rls", "linear", "lms", "snap1", "uoro", "dni", "rnn-fixed"):
                name, params = METHODS[key]
                out = []
                for on in (False, True):
                    run = run_online(get(name)(horizon=h, n_features=3, guard=on, **params), z,
                                     fit_until=sp["offline_methods_last_training_target"])
                    out.append(np.sqrt(np.mean((run.predicted[sl] - z[sl]) ** 2)) / nop)
                cells.append(f"{key} {out[0]:.2f}->{out[1]:.2f}")
            print(f"{seq.name} h={h}: RMSE / no prediction, guard off->on: " + ", ".join(cells),
                  flush=True)


def timing(folders: list[Path]) -> None:
    """Median wall time per step (ms) with the guard off and on, same run, best of 3."""
    y, sp = load(folders[0])
    z = Standardizer(y[: sp["train"][1]]).transform(y)
    print(f"{folders[0].name}, h = 5, median ms per step (best of 3 runs each, interleaved):")
    for key in ("linear", "rls", "snap1", "aggregator"):
        name, params = METHODS[key]
        best: dict[bool, float] = {}
        for _ in range(3):
            for on in (False, True):
                run = run_online(get(name)(horizon=5, n_features=9, guard=on, **params), z,
                                 fit_until=sp["offline_last_training_target"])
                ms = float(np.median(run.step_ms[100:]))
                best[on] = min(best.get(on, ms), ms)
        print(f"  {key:>11}: guard off {best[False]:.4f}  on {best[True]:.4f}  "
              f"(+{1e3 * (best[True] - best[False]):.1f} us)", flush=True)


def step_study(folders: list[Path]) -> None:
    """Reset alone vs a reset that also scales the learning rate (see the module docstring)."""
    for key in ("snap1", "uoro", "snap1-pub"):
        name, params = METHODS[key]
        for h in (5, 21):
            for factor in (1.0, 0.5, 0.25):
                ratios = []
                for folder in folders:
                    y, sp = load(folder)
                    std = Standardizer(y[: sp["train"][1]])
                    z = std.transform(y)
                    test = slice(sp["test_from"] - 1, len(y))
                    fc = get(name)(horizon=h, n_features=9, **params)
                    original = fc._reset_model

                    def reset(fc: Any = fc, original: Any = original, factor: float = factor
                              ) -> None:
                        if fc.events and fc.events[-1].reason.startswith("guard:"):
                            fc.params["eta"] = float(fc.params["eta"]) * factor
                        original()

                    fc._reset_model = reset  # type: ignore[method-assign]
                    run = run_online(fc, z)
                    last = np.full_like(y, np.nan)
                    last[h:] = y[:-h]
                    ratios.append(rmse_mm(std.inverse(run.predicted), y, test)
                                  / rmse_mm(last, y, test))
                print(f"{key:>10} h={h:>2} factor {factor:<4g}: RMSE / no prediction "
                      + " ".join(f"{r:.3f}" for r in ratios)
                      + f"  mean {np.mean(ratios):.3f}  worst {np.max(ratios):.3f}", flush=True)


def choose(results: dict, seqs: list[str]) -> tuple[str, float]:
    """Grid key with the lowest mean log RMSE ratio over ``seqs`` (all methods and horizons)."""
    keys = next(iter(results.values()))[seqs[0]]["grid"].keys()
    rows = []
    for k in keys:
        v = [r[s]["grid"][k] / r[s]["no_prediction"] for r in results.values() for s in seqs]
        rows.append((k, float(np.mean(np.log(v)))))
    return min(rows, key=lambda r: r[1])


def per_method(results: dict, seqs: list[str], key: str) -> None:
    """Print before / with the grid key / no prediction, mean RMSE (mm) over ``seqs``."""
    print(f"\nper method with ratio/margin {key} (mean RMSE mm over sequences; worst ratio):")
    for name, r in results.items():
        b = np.mean([r[s]["before"] for s in seqs])
        a = np.mean([r[s]["grid"][key] for s in seqs])
        n = np.mean([r[s]["no_prediction"] for s in seqs])
        worst = max(r[s]["grid"][key] / r[s]["no_prediction"] for s in seqs)
        print(f"  {name:>15}: before {b:7.2f}  after {a:6.2f}  no-pred {n:5.2f}  "
              f"worst after/no-pred {worst:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--horizons", type=int, nargs="+", default=[5, 21], help="samples")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--from-json", type=Path, help="analyse the results of an earlier run")
    parser.add_argument("--step-study", action="store_true",
                        help="reset alone vs learning-rate reduction at each guard reset")
    parser.add_argument("--timing", action="store_true", help="cost of the guard per step")
    parser.add_argument("--cine", action="store_true", help="check on the cine PCA weights")
    args = parser.parse_args(argv)
    if args.from_json:
        results = json.loads(args.from_json.read_text())["results"]
        analyse(results, list(next(iter(results.values()))))
        return 0
    folders = sorted(p for p in args.data.glob("markers-*") if (p / "sequence.json").is_file())
    if not folders:
        print(f"{args.data}: no marker sequences", file=sys.stderr)
        return 2
    if args.step_study:
        step_study(folders)
        return 0
    if args.timing:
        timing(folders)
        return 0
    if args.cine:
        cine(args.data)
        return 0
    seqs = [f.name for f in folders]
    print(f"guard defaults: {DEFAULTS}; sequences {seqs}; 10 Hz, causal, test window, RMSE mm")
    results = {}  # "method h" -> seq -> result
    for h in args.horizons:
        for key in args.methods:
            res = {f.name: one(f, key, h) for f in folders}
            results[f"{key} {h}"] = res
            b = np.mean([r["before"] for r in res.values()])
            a = np.mean([r["after"] for r in res.values()])
            nop = np.mean([r["no_prediction"] for r in res.values()])
            g = np.mean([r["guarded_after"] / r["scored"] for r in res.values()])
            rs = (sum(r["resets_before"] for r in res.values()),
                  sum(r["resets_after"] for r in res.values()))
            print(f"h={h:>2} ({h / 10:.1f} s) {key:>11}: before {b:8.2f}  after {a:6.2f}  "
                  f"no-pred {nop:5.2f} mm  guarded {100 * g:5.1f} %  resets {rs[0]}->{rs[1]}  "
                  "per seq after/no-pred "
                  + " ".join(f"{r['after'] / r['no_prediction']:.2f}" for r in res.values()),
                  flush=True)
    dev_key, loo = analyse(results, seqs)
    if args.json:
        args.json.write_text(json.dumps({"results": results, "dev": dev_key, "loo": loo}, indent=1))
    return 0


def analyse(results: dict, seqs: list[str]) -> tuple[str, dict]:
    """Print the development-fitted and leave-one-out choice of the thresholds."""
    dev_key, dev_score = choose(results, seqs)
    print(f"\ndevelopment-fitted (ratio/margin): {dev_key}, mean log ratio {dev_score:.4f}")
    loo = {}
    for s in seqs:
        k, _ = choose(results, [x for x in seqs if x != s])
        held = float(np.mean([np.log(r[s]["grid"][k] / r[s]["no_prediction"])
                              for r in results.values()]))
        loo[s] = (k, held)
        print(f"  leave out {s}: chosen {k}, held-out mean log ratio {held:.4f}")
    default_key = f"{DEFAULTS['guard_ratio']:g}/{DEFAULTS['guard_margin']:g}"
    for label, key in (("no substitution", f"{INF:g}/{INF:g}"), ("defaults", default_key),
                       ("dev-fitted", dev_key)):
        v = np.mean([np.log(r[s]["grid"][key] / r[s]["no_prediction"])
                     for r in results.values() for s in seqs])
        print(f"mean log ratio with {label} ({key}): {v:.4f}")
    print(f"leave-one-out mean held-out log ratio: {np.mean([v[1] for v in loo.values()]):.4f}")
    worst_loo = max(results[m][s]["grid"][loo[s][0]] / results[m][s]["no_prediction"]
                    for m in results for s in seqs)
    print(f"leave-one-out worst held-out ratio: {worst_loo:.3f}")
    per_method(results, seqs, default_key)
    if dev_key != default_key:
        per_method(results, seqs, dev_key)
    return dev_key, loo


if __name__ == "__main__":
    raise SystemExit(main())
