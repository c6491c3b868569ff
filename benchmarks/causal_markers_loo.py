"""Causal forecasting on the 10 Hz marker data, leave one sequence out (issue #15).

Every method runs causally (a learner uses a target only once it has been acquired) over each
development sequence (``markers-1, -2, -3, -5, -8``, ``resampled_10hz.mat``), standardised with
its own training window; the score is the **relative RMSE** on the test window (RMSE of the 3D
marker positions in mm / RMSE of no prediction on the same targets), mean over the sequences.

Settings are chosen two ways, printed side by side:

* **dev-fitted**: the setting of the grid with the lowest mean relative RMSE over all 5 test
  windows (it has seen the evaluated sequence: optimistic);
* **LOO** (leave one sequence out): for each evaluated sequence, the setting with the lowest mean
  over the *other four* test windows; the evaluated sequence never takes part in the choice.

Rows
    no prediction; causal RLS as in the result tables (``k`` in 12-60 chosen on each sequence's
    own validation window, no test data); causal RLS over a small fixed grid (LOO); the residual
    hybrid ``snap1-hybrid`` over a grid of base x learning rate (LOO), 3 seeds (mean and spread of
    the 5-sequence mean over seeds); the hybrid started from a population prior trained on the
    other four sequences (:func:`~motionpredict.forecasters.hybrid.train_prior`, all their
    samples: other patients' archived recordings), one head or multi-horizon heads, 3 seeds; an
    ablation of the hybrid's ideas one at a time (fixed base, 3 seeds); the aggregator with its
    default settings, and aggregator variants (Hedge ``eta``, ``discount``, default members with
    or without RLS k 12, a hybrid and a hybrid with prior) chosen LOO. The variants
    are replayed on the members' cached forecasts by the aggregator's own rule (the replay of the
    default equals ``Aggregator`` itself; the difference is printed).
    Per-step time: median ms per online step (one core, this machine) of one run per method.

    nice -n 5 .venv/bin/python benchmarks/causal_markers_loo.py [--data ../shared/data]
        [--horizons 0.1 0.5 1.0 2.1] [--seeds 0 1 2] [--cache /tmp/causal-loo-cache]

About 10 min of one core the first time (the aggregator's 16-19 members are the bulk); forecasts
are cached under ``--cache`` so that a rerun only prints. Needs the reference data.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from motionpredict.evaluation.batch import load_sequence
from motionpredict.forecasters import Standardizer, get, run_online
from motionpredict.forecasters.aggregator import Aggregator, default_members
from motionpredict.forecasters.hybrid import train_prior

REPO = Path(__file__).resolve().parents[1]
SEQUENCES = ("markers-1", "markers-2", "markers-3", "markers-5", "markers-8")
PERIOD_S = 0.1
RLS_GRID = [{"k": 12}, {"k": 4, "stride": 2}, {"k": 6, "stride": 2}]
HYBRID_GRID = [
    {"base_k": bk, "base_stride": bs, "eta": eta}
    for bk, bs in ((12, 1), (4, 2))
    for eta in (1e-4, 3e-4)
]
#: One idea at a time on a fixed base (RLS k 12, stride 1): name -> parameters.
ABLATION_BASE = {"base_k": 12, "base_stride": 1}
ABLATION = {
    "base alone (eta 0 = causal RLS k 12)": {"eta": 0.0},
    "rmsprop 1e-4 (default)": {"eta": 1e-4},
    "sgd 2e-3 (clipped)": {"step": "sgd", "eta": 2e-3},
    "nlms 3e-3 (normalised)": {"step": "nlms", "eta": 3e-3},
    "multi-horizon heads": {"eta": 1e-4, "heads": "multi"},
    "input smoothing a = 0.5": {"eta": 1e-4, "smooth": 0.5},
    "tighter bound B = 0.25": {"eta": 1e-4, "bound": 0.25},
    "no base-error input": {"eta": 1e-4, "feed_error": False},
}
#: Population prior: trained on the other 4 sequences (all their samples), then adapted.
PRIOR_PARAMS = {"base_k": 12, "base_stride": 1}
PRIOR_TRAIN = {"epochs": 2, "eta": 3e-4}
PRIOR_ADAPT_ETA = 1e-4
PRIOR_VARIANTS = {"single head": {}, "multi-horizon heads": {"heads": "multi"}}
AGG_ETAS = (4.0, 8.0, 16.0)
AGG_DISCOUNTS = (0.98, 0.99)
AGG_EXTRA = {"rls k12": ("rls", {"k": 12}),
             "snap1-hybrid": ("snap1-hybrid", {"base_k": 12, "base_stride": 1, "eta": 1e-4})}


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--horizons", type=float, nargs="+", default=[0.1, 0.5, 1.0, 2.1])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/causal-loo-cache"))
    return ap.parse_args()


class Data:
    """The standardised sequences, their windows, and a cache of forecasts."""

    def __init__(self, folder: Path, cache: Path) -> None:
        self.seq: dict[str, dict[str, Any]] = {}
        for name in SEQUENCES:
            loaded = load_sequence({"path": str(folder / name / "resampled_10hz.mat"),
                                    "frame_period_s": PERIOD_S})
            series = loaded.data.as_series()
            sp = loaded.splits
            std = Standardizer(series[sp.train[0]: sp.train[1]])
            self.seq[name] = {"mm": series, "z": std.transform(series), "std": std,
                              "splits": sp}
        self.cache = cache
        cache.mkdir(parents=True, exist_ok=True)
        self.ms: dict[str, list[float]] = {}

    def forecast(self, name: str, method: str, params: dict[str, Any], h: int,
                 seed: int = 0) -> np.ndarray:
        """``(T, p)`` standardised causal forecasts aligned to their target (cached)."""
        key = json.dumps([name, method, sorted(params.items()), h, seed], default=str)
        path = self.cache / (hashlib.sha1(key.encode()).hexdigest()[:20] + ".npz")
        if path.exists():
            with np.load(path) as f:
                self.ms.setdefault(method, []).append(float(f["ms"]))
                return np.asarray(f["pred"])
        f = get(method)(horizon=h, n_features=9, mode="causal", seed=seed, **params)
        run = run_online(f, self.seq[name]["z"])
        ms = float(np.median(run.step_ms))
        np.savez(path, pred=run.predicted, ms=ms)
        self.ms.setdefault(method, []).append(ms)
        return run.predicted

    def prior(self, held_out: str, h: int, seed: int, extra: dict[str, Any]) -> str:
        """Path of the prior trained without ``held_out`` (cached)."""
        key = json.dumps([held_out, h, seed, PRIOR_PARAMS, PRIOR_TRAIN, extra])
        path = self.cache / ("prior-" + hashlib.sha1(key.encode()).hexdigest()[:20] + ".npz")
        if not path.exists():
            others = [self.seq[n]["z"] for n in SEQUENCES if n != held_out]
            train_prior(others, path, horizon=h, seed=seed, **PRIOR_TRAIN, **PRIOR_PARAMS,
                        **extra)
        return str(path)

    def with_prior(self, name: str, h: int, seed: int, extra: dict[str, Any]) -> np.ndarray:
        """Forecasts of the hybrid started from the prior trained without ``name``."""
        params = {**PRIOR_PARAMS, **extra, "eta": PRIOR_ADAPT_ETA,
                  "prior_path": self.prior(name, h, seed, extra)}
        return self.forecast(name, "snap1-hybrid", params, h, seed)

    def rel(self, name: str, pred_z: np.ndarray, h: int) -> float:
        """Relative RMSE (3D positions, mm) of standardised forecasts on the test window."""
        s = self.seq[name]
        a, b = s["splits"].test
        y = s["mm"][a:b]
        p = s["std"].inverse(pred_z[a:b])
        n = s["mm"][a - h: b - h]

        def rmse(x: np.ndarray) -> float:
            return float(np.sqrt(np.mean(np.sum(((x - y).reshape(len(y), -1, 3)) ** 2, 2))))

        return rmse(p) / rmse(n)

    def val_rmse(self, name: str, pred_z: np.ndarray) -> float:
        s = self.seq[name]
        a, b = s["splits"].validation
        d = s["std"].inverse(pred_z[a:b]) - s["mm"][a:b]
        return float(np.sqrt(np.mean(np.sum(d.reshape(b - a, -1, 3) ** 2, 2))))


def hedge(preds: np.ndarray, z: np.ndarray, h: int, eta: float, discount: float,
          own: float = 0.5) -> np.ndarray:
    """Replay of :class:`Aggregator`'s rule (absolute loss) on ``(T, M, p)`` member forecasts."""
    n, m, p = preds.shape
    out = np.full((n, p), np.nan)
    loss: np.ndarray | None = None
    for t in range(n - h):
        if t - h >= 0:
            err = np.abs(preds[t] - z[t])
            loss = err if loss is None else discount * loss + (1.0 - discount) * err
        if loss is None:
            w = np.full((m, p), 1.0 / m)
        else:
            mixed = own * loss + (1.0 - own) * loss.mean(axis=1, keepdims=True)
            best = np.maximum(mixed.min(axis=0, keepdims=True), 1e-12)
            lw = -eta * (mixed / best - 1.0)
            w = np.exp(lw - lw.max(axis=0, keepdims=True))
            w /= w.sum(axis=0, keepdims=True)
        out[t + h] = np.sum(w * preds[t + h], axis=0)
    return out


def member_forecasts(data: Data, name: str, h: int) -> np.ndarray:
    """``(T, M, p)`` forecasts of the default aggregator members (seeds as the aggregator's)."""
    specs = default_members(2, h)
    return np.stack([data.forecast(name, m, dict(pp), h, seed=1000 * i)
                     for i, (m, pp) in enumerate(specs)], axis=1)


def choose(scores: dict[str, dict[str, float]]) -> tuple[dict[str, float], dict[str, float],
                                                         dict[str, str]]:
    """``scores[setting][sequence]`` -> dev-fitted and LOO per-sequence scores, LOO choices."""
    settings = list(scores)
    dev_best = min(settings, key=lambda s: np.mean(list(scores[s].values())))
    dev = dict(scores[dev_best])
    loo, picked = {}, {}
    for seq in SEQUENCES:
        best = min(settings, key=lambda s: np.mean([v for q, v in scores[s].items() if q != seq]))
        loo[seq], picked[seq] = scores[best][seq], best
    return dev, loo, picked


def main() -> int:
    args = parse_args()
    folder = args.data / "markers"
    if not folder.is_dir():
        raise SystemExit(f"{folder}: reference marker data not found (use --data)")
    t_start = time.perf_counter()
    data = Data(folder, args.cache)
    hs = [round(x / PERIOD_S) for x in args.horizons]
    rows: dict[str, dict[int, tuple[float, float, str]]] = {}  # name -> h -> (dev, loo, spread)
    choices: dict[str, dict[int, dict[str, str]]] = {}
    ablation: dict[str, dict[int, list[float]]] = {k: {} for k in ABLATION}

    def put(label: str, h: int, dev: float, loo: float, spread: str = "") -> None:
        rows.setdefault(label, {})[h] = (dev, loo, spread)

    with threadpool_limits(limits=1, user_api="blas"):
        for h in hs:
            print(f"h = {h} samples ({h * PERIOD_S:g} s)", flush=True)
            put("no prediction", h, 1.0, 1.0)
            # causal RLS as in the result tables: k chosen on each sequence's validation window
            rls_tab = []
            for name in SEQUENCES:
                cands = [data.forecast(name, "rls", {"k": k}, h) for k in (12, 24, 36, 48, 60)]
                best = min(cands, key=lambda c: data.val_rmse(name, c))
                rls_tab.append(data.rel(name, best, h))
            put("causal RLS (k 12-60 on validation)", h, float(np.mean(rls_tab)),
                float(np.mean(rls_tab)))
            sc = {json.dumps(g): {n: data.rel(n, data.forecast(n, "rls", g, h), h)
                                  for n in SEQUENCES} for g in RLS_GRID}
            dev, loo, picked = choose(sc)
            put("causal RLS (3 settings, chosen LOO)", h, float(np.mean(list(dev.values()))),
                float(np.mean(list(loo.values()))))
            # residual hybrid over its grid, per seed
            devs, loos = [], []
            for seed in args.seeds:
                sc = {json.dumps(g): {n: data.rel(n, data.forecast(n, "snap1-hybrid", g, h,
                                                                   seed), h)
                                      for n in SEQUENCES} for g in HYBRID_GRID}
                dev, loo, picked = choose(sc)
                devs.append(np.mean(list(dev.values())))
                loos.append(np.mean(list(loo.values())))
                if seed == args.seeds[0]:
                    choices.setdefault("snap1-hybrid", {})[h] = picked
            put("snap1-hybrid (grid of 4, chosen LOO)", h, float(np.mean(devs)),
                float(np.mean(loos)), f"{np.std(loos):.4f}")
            # population prior (LOO by construction: the prior never saw the evaluated sequence)
            for label, extra in PRIOR_VARIANTS.items():
                pri = [float(np.mean([data.rel(n, data.with_prior(n, h, seed, extra), h)
                                      for n in SEQUENCES])) for seed in args.seeds]
                put(f"snap1-hybrid + population prior, {label} (LOO)", h, float(np.nan),
                    float(np.mean(pri)), f"{np.std(pri):.4f}")
            for label, extra in ABLATION.items():
                ablation[label][h] = [
                    float(np.mean([data.rel(n, data.forecast(
                        n, "snap1-hybrid", {**ABLATION_BASE, **extra}, h, seed), h)
                        for n in SEQUENCES]))
                    for seed in args.seeds]
            # aggregator: default, and variants replayed on the members' forecasts
            members = {n: member_forecasts(data, n, h) for n in SEQUENCES}
            extras = {n: np.stack([data.forecast(n, m, p, h) for m, p in AGG_EXTRA.values()]
                                  + [data.with_prior(n, h, args.seeds[0], {})], axis=1)
                      for n in SEQUENCES}
            sc = {}
            for eta in AGG_ETAS:
                for disc in AGG_DISCOUNTS:
                    for with_extra in (False, True):
                        key = f"eta {eta:g}, discount {disc:g}" + (
                            ", + RLS k12 + hybrids" if with_extra else "")
                        sc[key] = {}
                        for n in SEQUENCES:
                            pr = (np.concatenate([members[n], extras[n]], axis=1) if with_extra
                                  else members[n])
                            sc[key][n] = data.rel(n, hedge(pr, data.seq[n]["z"], h, eta, disc),
                                                  h)
            default = sc["eta 8, discount 0.98"]
            m = float(np.mean(list(default.values())))
            put("aggregator (defaults, discount 0.98 as the tables)", h, m, m)
            dev, loo, picked = choose(sc)
            put("aggregator (12 variants, chosen LOO)", h, float(np.mean(list(dev.values()))),
                float(np.mean(list(loo.values()))))
            choices.setdefault("aggregator", {})[h] = picked

        # the replay equals the class (one sequence, shortest horizon)
        h0, n0 = hs[0], "markers-2"
        agg = Aggregator(horizon=h0, n_features=9, discount=0.98, lag_stride=2)
        t0 = time.perf_counter()
        run = run_online(agg, data.seq[n0]["z"])
        agg_ms = float(np.median(run.step_ms))
        rep = hedge(member_forecasts(data, n0, h0), data.seq[n0]["z"], h0, 8.0, 0.98)
        diff = float(np.nanmax(np.abs(rep - run.predicted)))
        agg_wall = time.perf_counter() - t0

    cols = " | ".join(f"{h * PERIOD_S:g} s dev / LOO" for h in hs)
    print(f"\n### Relative RMSE, causal, 10 Hz, mean over {len(SEQUENCES)} sequences "
          "(test windows)\n")
    print(f"| method | {cols} | LOO spread over seeds |")
    print("|---|" + "---:|" * len(hs) + "---|")
    for label, by_h in rows.items():
        cells = " | ".join(("- / " if np.isnan(by_h[h][0]) else f"{by_h[h][0]:.3f} / ")
                           + f"{by_h[h][1]:.3f}" for h in hs)
        spread = ", ".join(by_h[h][2] for h in hs if by_h[h][2])
        print(f"| {label} | {cells} | {spread or '-'} |")

    print(f"\n### Ablation of the hybrid (base RLS k 12; mean over sequences; mean +- SD over "
          f"seeds {args.seeds})\n")
    print("| variant | " + " | ".join(f"{h * PERIOD_S:g} s" for h in hs) + " |")
    print("|---|" + "---:|" * len(hs))
    for label, by_h in ablation.items():
        print(f"| {label} | " + " | ".join(
            f"{np.mean(by_h[h]):.4f} +- {np.std(by_h[h]):.4f}" for h in hs) + " |")

    print("\n### LOO choices\n")
    for method, by_h in choices.items():
        for h, picked in by_h.items():
            print(f"- {method}, {h * PERIOD_S:g} s: "
                  + "; ".join(f"{n}: {v}" for n, v in picked.items()))

    print("\n### Median ms per online step (this machine, one BLAS thread)\n")
    for method, ms in sorted(data.ms.items()):
        print(f"- {method}: {np.median(ms):.3f} ms (median over {len(ms)} runs)")
    print(f"- aggregator (class, {n0}, h {h0}): {agg_ms:.3f} ms; replay vs class max |diff| "
          f"{diff:.2e} (standardised units), {agg_wall:.0f} s")
    print(f"\nwhole run {time.perf_counter() - t_start:.0f} s wall")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
