"""The tables of a report (shared by the HTML and PDF renderers)."""

from __future__ import annotations

import json
import platform
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from motionpredict.errors import ValidationError
from motionpredict.evaluation.stats import (
    breathing_cycles,
    cycle_bootstrap,
    cycle_bootstrap_gain,
    spread,
    wilcoxon_paired,
)
from motionpredict.report.data import ReportData

#: Secondary metrics shown per kind of data, with their column titles.
DETAIL_METRICS: dict[str, list[tuple[str, str]]] = {
    "image": [("dvf_mean_mm", "DVF mean (mm)"), ("dvf_max_mm", "DVF max (mm)"),
              ("dvf_roi_mean_mm", "DVF ROI mean (mm)"), ("dvf_true_mean_mm", "vs truth (mm)"),
              ("pca_truncation_mean_mm", "PCA trunc. (mm)"), ("nrmse", "nRMSE"),
              # SSIM on the data's own range (ssim_255 is left out: on intensities scaled to
              # [0, 1] a range of 255 makes it 1.000 for any prediction)
              ("ssim_true_range", "SSIM (L = data range)"),
              ("pearson", "Pearson"), ("guarded_forecasts", "guarded forecasts"),
              ("total_median_ms", "ms/frame (median)")],
    "markers": [("rmse_mm", "RMSE (mm)"), ("nrmse", "nRMSE"), ("mae_mm", "MAE (mm)"),
                ("max_mm", "max (mm)"), ("jitter_mm", "jitter (mm)"),
                ("no_prediction_rmse_mm", "no-pred. RMSE (mm)"),
                ("guarded_forecasts", "guarded forecasts"),
                ("forecast_median_ms", "ms/step (median)")],
    "ct4d": [("rmse_mm", "point RMSE (mm)"), ("max_mm", "point max (mm)"),
             ("jitter_mm", "jitter (mm)"), ("no_prediction_rmse_mm", "no-pred. RMSE (mm)"),
             ("pearson_mean", "ROI Pearson"), ("nrmse_mean", "ROI nRMSE"),
             ("field_error_mm", "field error (mm)"), ("forecast_ms", "forecast ms/step"),
             ("correspondence_ms", "field ms"), ("warp_ms", "warp ms")],
}


@dataclass
class Table:
    """A titled table of strings."""

    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""


def _pm(values: list[float], fmt: str = ".3f") -> str:
    s = spread(values)
    if s.n == 0:
        return "-"
    if s.n == 1:
        return f"{s.mean:{fmt}}"
    return f"{s.mean:{fmt}} ± {s.std:{fmt}}"


def seeds_note(jobs: list[dict[str, Any]]) -> str:
    """``"mean ± std over N seeds"`` when some cell has several seeds, else ``"one seed"``."""
    n = max(Counter((j["spec"]["sequence_name"], j["spec"]["method"], j["spec"]["mode"],
                     j["spec"]["horizon_s"]) for j in jobs).values(), default=0)
    return f"mean ± std over {n} seeds" if n > 1 else "one seed (no spread to show)"


def methods_by_error(jobs: list[dict[str, Any]], metric: str) -> list[str]:
    """Methods of ``jobs`` sorted by their mean ``metric`` over jobs (lowest first; methods
    without the metric last, by name)."""
    vals: dict[str, list[float]] = defaultdict(list)
    for j in jobs:
        v = j["result"]["metrics"].get(metric)
        vals[j["spec"]["method"]].append(float(v) if v is not None else np.nan)

    def key(m: str) -> tuple[float, str]:
        v = np.asarray(vals[m], dtype=float)
        v = v[np.isfinite(v)]
        return (float(v.mean()) if v.size else np.inf, m)

    return sorted(vals, key=key)


def sequence_tables(data: ReportData) -> list[Table]:
    """Per sequence and mode: headline error per method (sorted by error) and horizon (mean ±
    std over seeds where there are several), then the detailed metrics. Marker and 4DCT point
    errors are in mm with the nRMSE beside."""
    out = []
    for seq in data.sequences():
        jobs = [j for j in data.jobs if j["spec"]["sequence_name"] == seq]
        kind = jobs[0]["spec"]["kind"]
        metric, label = data.main_metric(kind)
        for mode in data.modes():
            mj = [j for j in jobs if j["spec"]["mode"] == mode]
            if not mj:
                continue
            hs = sorted({j["spec"]["horizon_s"] for j in mj})
            cells: dict[tuple[str, float], list[float]] = defaultdict(list)
            beside: dict[tuple[str, float], list[float]] = defaultdict(list)
            for j in mj:
                v = j["result"]["metrics"].get(metric)
                if v is not None:
                    cells[(j["spec"]["method"], j["spec"]["horizon_s"])].append(v)
                nv = j["result"]["metrics"].get("nrmse")
                if kind == "markers" and nv is not None:
                    beside[(j["spec"]["method"], j["spec"]["horizon_s"])].append(nv)

            methods = methods_by_error(mj, metric)
            rows = [[m] + [_pm(cells.get((m, h), [])) + (
                f" (nRMSE {spread(beside[(m, h)]).mean:.3f})" if beside.get((m, h)) else "")
                for h in hs] for m in methods]
            tag = " (REFERENCE MODE: published look-ahead)" if mode == "reference" else ""
            note = f"{_scored_phrase(mj)}; {seeds_note(mj)}; methods sorted by error"
            out.append(Table(f"{seq}: {label}, {mode} mode{tag}",
                             ["method"] + [f"h = {h:g} s" for h in hs], rows, note))
            cols = DETAIL_METRICS[kind if kind in ("markers", "ct4d") else "image"]
            present = [(k, t) for k, t in cols if any(k in j["result"]["metrics"] for j in mj)]
            groups: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
            for j in mj:
                groups[(j["spec"]["method"], j["spec"]["horizon_s"])].append(
                    j["result"]["metrics"])
            order = {m: i for i, m in enumerate(methods)}
            drows = []
            for (m, h), ms in sorted(groups.items(), key=lambda kv: (kv[0][1],
                                                                      order[kv[0][0]])):
                drows.append([m, f"{h:g}"] + [_pm([x[k] for x in ms if x.get(k) is not None],
                                                  ".0f" if k == "guarded_forecasts" else ".3f")
                                              for k, _ in present])
            out.append(Table(f"{seq}: all metrics, {mode} mode{tag}",
                             ["method", "h (s)"] + [t for _, t in present], drows, note))
    return out


def _scored_phrase(jobs: list[dict[str, Any]]) -> str:
    """What the errors of ``jobs`` were computed on (the ``scored_window`` a predict run
    recorded, else the evaluation's test window)."""
    names = sorted({str(j["result"]["scored_window"].get("name")) for j in jobs
                    if isinstance(j["result"].get("scored_window"), dict)})
    if names:
        return "scored on " + "; ".join(names)
    return "test window only"


def run_statement(data: ReportData) -> str:
    """One paragraph: what was scored and what was (not) searched, from what the run did.

    A ``predict`` run states its ``scored_window`` and ``searched`` records; an evaluation run
    states its test windows and, per method, how many settings were tried on the validation
    window (nothing is claimed that the stored jobs do not show).
    """
    scored = [j for j in data.jobs if isinstance(j["result"].get("scored_window"), dict)]
    parts = []
    if scored:
        names = sorted({str(j["result"]["scored_window"].get("name")) for j in scored})
        parts.append("Errors are computed on " + "; ".join(names) + ".")
    else:
        parts.append("Errors are computed on each sequence's test window only (splits in the "
                     "Provenance section).")
    searched = [j["result"]["searched"] for j in data.jobs
                if isinstance(j["result"].get("searched"), dict)]
    if searched:
        whats = sorted({str(s.get("what", "")) for s in searched if s.get("what")})
        parts.append("Searched: " + ("; ".join(whats) if whats else "not recorded") + ".")
        return " ".join(parts)
    sizes: dict[str, set[int]] = defaultdict(set)
    for j in data.jobs:
        sizes[j["spec"]["method"]].add(int(j["result"].get("grid_size") or 1))
    tried = [m for m, n in sorted(sizes.items()) if max(n) > 1]
    single = [m for m, n in sorted(sizes.items()) if max(n) <= 1]
    if tried:
        parts.append("Hyper-parameters chosen on the validation window for " + ", ".join(
            f"{m} ({'/'.join(str(n) for n in sorted(sizes[m]))} settings)" for m in tried) + ".")
    if single:
        parts.append("Nothing searched (one setting) for " + ", ".join(single) + ".")
    return " ".join(parts)


# ---------------------------------------------------------------------------- the answer
def answer_metric(data: ReportData, kind: str) -> tuple[str, str, bool]:
    """``(metric key, column title, squared)`` of the answer table of one kind of data.

    Markers and 4DCT points: RMSE (mm) against ``no_prediction_rmse_mm`` of the same job. Cine:
    the RMSE of the field when every job has it with its no-prediction reference (``predict``
    runs), else the mean DVF error (mm) against the run's ``no-prediction`` jobs. ``squared``
    says that per-frame errors are squared (RMSE) rather than means.
    """
    if kind in ("markers", "ct4d"):
        return "rmse_mm", "RMSE (mm)", True
    jobs = [j for j in data.jobs if j["spec"]["kind"] == kind]
    if jobs and all({"rmse_mm", "no_prediction_rmse_mm"} <= set(j["result"]["metrics"])
                    for j in jobs):
        return "rmse_mm", "field RMSE (mm)", True
    return "dvf_mean_mm", "mean DVF error (mm)", False


def _reference(data: ReportData, job: dict[str, Any], metric: str) -> float | None:
    """No prediction's error for the job's sequence, mode, horizon (and seed)."""
    m = job["result"]["metrics"]
    if metric == "rmse_mm" and m.get("no_prediction_rmse_mm") is not None:
        return float(m["no_prediction_rmse_mm"])
    s = job["spec"]
    vals = [float(j["result"]["metrics"][metric]) for j in data.jobs
            if j["spec"]["method"] == "no-prediction" and metric in j["result"]["metrics"]
            and all(j["spec"][k] == s[k] for k in ("sequence_name", "mode", "horizon_s"))]
    return float(np.mean(vals)) if vals else None


def _frame_errors(data: ReportData, job: dict[str, Any], squared: bool
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Per scored frame: the method's error, no prediction's error and a breathing trace.

    Squared errors (mm^2, mean over points) of marker/point positions are rebuilt from the
    stored traces (no prediction repeats the position ``h`` samples earlier); mean DVF errors
    (mm) come from the job's and the matching ``no-prediction`` job's per-frame traces.
    ``None`` when the traces do not hold what is needed.
    """
    tr = job["result"].get("traces") or {}
    s = job["spec"]
    if not squared:
        e = tr.get("test_dvf_mean_mm")
        base = [j for j in data.jobs if j["spec"]["method"] == "no-prediction"
                and all(j["spec"][k] == s[k] for k in ("sequence_name", "mode", "horizon_s"))]
        if not e or not base:
            return None
        r = (base[0]["result"].get("traces") or {}).get("test_dvf_mean_mm")
        b = tr.get("breathing")
        if not r or not b or not len(e) == len(r) == len(b):
            return None
        return np.asarray(e, float), np.asarray(r, float), np.asarray(b, float)
    if s["kind"] not in ("markers", "ct4d") or not tr.get("t") or not tr.get("true"):
        return None
    test = (job["result"].get("splits") or {}).get("test")
    if not test:
        return None
    row = {int(t): i for i, t in enumerate(tr["t"])}
    true = np.asarray(tr["true"], dtype=float)
    pred = np.asarray([[np.nan if v is None else v for v in r] for r in tr["predicted"]],
                      dtype=float)
    h = int(s["horizon_steps"])
    idx = [(row[t], row[t - h]) for t in range(int(test[0]), int(test[1]))
           if t in row and t - h in row]
    if len(idx) < 4:
        return None
    a = np.asarray(idx)
    n_pts = max(1, true.shape[1] // 3)
    e = ((pred[a[:, 0]] - true[a[:, 0]]) ** 2).sum(axis=1) / n_pts
    r = ((true[a[:, 1]] - true[a[:, 0]]) ** 2).sum(axis=1) / n_pts
    axis = 2 if s["kind"] == "markers" else 0  # superior-inferior coordinate
    b = true[a[:, 0], axis::3].mean(axis=1)
    ok = np.isfinite(e)
    return (e[ok], r[ok], b[ok]) if ok.sum() >= 4 else None


def summary_tables(data: ReportData, *, n_boot: int = 2000) -> list[Table]:
    """The answer first: per kind of data, mode and horizon, the best method, its error (mm),
    no prediction's, the gain in % with a 95 % interval, and the guarded-forecast count.

    The error of a method is the mean over sequences of its mean over seeds; the best method
    has the lowest (no prediction competes too). The gain is ``100 (1 - E / R)`` with ``R``
    no prediction's error on the same targets; its interval is a percentile bootstrap that
    resamples whole breathing cycles of each sequence's scored window (lowest seed,
    :func:`~motionpredict.evaluation.stats.cycle_bootstrap_gain`).
    """
    out = []
    for kind in data.kinds():
        metric, title, squared = answer_metric(data, kind)
        unit = "frames" if kind.startswith("image") else "samples"
        for mode in data.modes():
            kj = [j for j in data.jobs if j["spec"]["kind"] == kind
                  and j["spec"]["mode"] == mode and metric in j["result"]["metrics"]]
            if not kj:
                continue
            rows = []
            for h in sorted({j["spec"]["horizon_s"] for j in kj}):
                hj = [j for j in kj if j["spec"]["horizon_s"] == h]
                rows.append(_answer_row(data, hj, h, unit, metric, squared, n_boot))
            tag = " (REFERENCE MODE: published look-ahead)" if mode == "reference" else ""
            out.append(Table(
                f"Answer: best method per horizon, {kind}, {mode} mode{tag}",
                ["horizon", "best method", title, "no prediction " + title.split(" (")[0]
                 + " (mm)", "gain vs no prediction", "95 % interval of the gain",
                 "guarded forecasts", "all methods, best first"], rows,
                f"{_scored_phrase(kj)}; error = mean over sequences"
                + (" of the mean over seeds" if "±" in seeds_note(kj) else " (one seed)")
                + "; gain = 100 x (1 - error / no prediction's error); "
                "interval: percentile bootstrap resampling whole breathing cycles of each "
                f"sequence's scored window ({n_boot} resamples, lowest seed); guarded forecasts:"
                " forecasts replaced by the fallback (last value), summed over sequences and "
                "seeds, '—' where the results do not record it"))
    return out


def _answer_row(data: ReportData, hj: list[dict[str, Any]], h: float, unit: str, metric: str,
                squared: bool, n_boot: int) -> list[str]:
    per: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for j in hj:
        per[j["spec"]["method"]][j["spec"]["sequence_name"]].append(
            float(j["result"]["metrics"][metric]))
    n_seq = max(len(v) for v in per.values())
    err = {m: float(np.mean([np.mean(v) for v in seqs.values()]))
           for m, seqs in per.items() if len(seqs) == n_seq}  # methods run on every sequence
    ranked = sorted(err, key=lambda m: (err[m], m))
    best = ranked[0]
    bj = [j for j in hj if j["spec"]["method"] == best]
    refs: dict[str, list[float]] = defaultdict(list)
    for j in bj:
        r = _reference(data, j, metric)
        if r is not None:
            refs[j["spec"]["sequence_name"]].append(r)
    ref = float(np.mean([np.mean(v) for v in refs.values()])) if len(refs) == n_seq else None
    gain_txt, ci_txt = "—", "—"
    if ref is not None and ref > 0:
        gain_txt = f"{100.0 * (1.0 - err[best] / ref):+.1f} %"
        first: dict[str, dict[str, Any]] = {}
        for j in sorted(bj, key=lambda j: j["spec"]["seed"]):
            first.setdefault(j["spec"]["sequence_name"], j)
        frames = [_frame_errors(data, j, squared) for j in first.values()]
        if best == "no-prediction":
            ci_txt = "0 (it is the reference)"
        elif frames and all(f is not None for f in frames):
            try:
                _, lo, hi = cycle_bootstrap_gain([f for f in frames if f is not None],
                                                 squared=squared, n_boot=n_boot)
                ci_txt = f"[{lo:+.1f}, {hi:+.1f}] %"
            except ValidationError:
                ci_txt = "—"
    guards = [j["result"]["metrics"].get("guarded_forecasts") for j in bj]
    known = [float(g) for g in guards if g is not None]
    guard_txt = "—" if not known else f"{round(sum(known))}"
    if known:
        fr = [j["result"]["metrics"].get("guarded_fraction") for j in bj]
        frk = [float(f) for f in fr if f is not None]
        if frk:
            guard_txt += f" ({100.0 * float(np.mean(frk)):.1f} %)"
    steps = sorted({int(j["spec"]["horizon_steps"]) for j in hj})
    horizon = f"{h:g} s ({'/'.join(map(str, steps))} {unit})"
    ranking = " < ".join(f"{m} {err[m]:.3g}" for m in ranked)
    return [horizon, best, f"{err[best]:.3f}", "—" if ref is None else f"{ref:.3f}", gain_txt,
            ci_txt, guard_txt, ranking]


def settings_table(data: ReportData) -> Table:
    """Hyper-parameters chosen on the validation window (most frequent over seeds)."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for j in data.jobs:
        s = j["spec"]
        groups[(s["sequence_name"], s["method"], s["mode"], s["horizon_s"])].append(j)
    rows = []
    for (seq, m, mode, h), js in sorted(groups.items()):
        chosen = Counter(_chosen_text(j["result"]["chosen"]) for j in js)
        top, count = chosen.most_common(1)[0]
        rows.append([seq, m, mode, f"{h:g}", f"{js[0]['spec']['horizon_steps']}", top,
                     f"{count}/{len(js)}", f"{js[0]['result']['grid_size']}"])
    header = ["sequence", "method", "mode", "h (s)", "h (frames)", "chosen", "seeds agreeing",
              "grid size"]
    if any(isinstance(j["result"].get("searched"), dict) for j in data.jobs):  # predict
        return Table("Settings used (nothing chosen on a validation window)", header, rows,
                     "the settings the run was given (defaults and --param values)")
    return Table("Settings chosen on the validation window", header, rows,
                 "validation score: mean DVF error (cine) or RMSE (markers, 4DCT points) on "
                 "validation targets no fit has seen; grid size 1: nothing searched")


def _chosen_text(chosen: dict[str, Any]) -> str:
    parts = []
    if chosen.get("n_components") is not None:
        parts.append(f"n_components={chosen['n_components']}")
    parts += [f"{k}={v}" for k, v in sorted((chosen.get("params") or {}).items())]
    return ", ".join(parts) or "-"


def provenance_table(data: ReportData) -> Table:
    """Software version and de-identified data provenance."""
    rows = [["motionpredict", data.version], ["python", platform.python_version()],
            ["platform", platform.platform(terse=True)]]
    seen = set()
    for j in data.jobs:
        name = j["spec"]["sequence_name"]
        if name in seen:
            continue
        seen.add(name)
        p = j["result"].get("provenance", {})
        sp = j["result"].get("splits", {})
        desc = [f"source: {p.get('source', '?')}"]
        for k in ("dataset", "frame_period_source", "spacing_source", "licence", "citation"):
            if p.get(k):
                desc.append(f"{k}: {p[k]}")
        desc.append(f"frame period {j['result'].get('period_s', float('nan')):.4g} s")
        if sp:
            desc.append(f"splits ({sp.get('convention')}): train {sp.get('train')}, validation "
                        f"{sp.get('validation')}, test {sp.get('test')}, offline fit until "
                        f"{sp.get('offline_fit_until')} [{sp.get('source')}]")
        if j["result"].get("lk_params"):
            desc.append("LK: " + json.dumps(j["result"]["lk_params"], sort_keys=True))
        rows.append([name, "; ".join(desc)])
    return Table("Software and data provenance (de-identified)", ["item", "value"], rows)


def _per_frame(job: dict[str, Any]) -> list[float] | None:
    tr = job["result"].get("traces", {})
    return tr.get("test_dvf_mean_mm", tr.get("test_error_mm"))


def comparison_tables(data: ReportData, baseline: str = "no-prediction") -> list[Table]:
    """Paired comparisons with the baseline: per sequence and horizon the mean per-frame error
    difference with a 95 % interval from resampling breathing cycles (lowest seed), and per
    method and mode a Wilcoxon signed-rank test over the (sequence, horizon) pairs."""
    first: dict[tuple, dict[str, Any]] = {}
    for j in data.jobs:
        s = j["spec"]
        key = (s["sequence_name"], s["method"], s["mode"], s["horizon_s"])
        if key not in first or s["seed"] < first[key]["spec"]["seed"]:
            first[key] = j
    rows, pairs = [], defaultdict(list)
    for (seq, m, mode, h), j in sorted(first.items()):
        base = first.get((seq, baseline, mode, h))
        if m == baseline or base is None:
            continue
        e, b = _per_frame(j), _per_frame(base)
        trace = base["result"].get("traces", {}).get("breathing")
        if not e or not b or len(e) != len(b) or not trace or len(trace) != len(e):
            continue
        d = [x - y for x, y in zip(e, b, strict=True)]
        mean, lo, hi = cycle_bootstrap(d, trace, n_boot=1000, seed=0)
        n_cyc = len(breathing_cycles(trace))
        rows.append([seq, m, mode, f"{h:g}", f"{mean:+.3f}", f"[{lo:+.3f}, {hi:+.3f}]",
                     str(n_cyc), "better" if hi < 0 else ("worse" if lo > 0 else "-")])
        pairs[(m, mode)].append((sum(e) / len(e), sum(b) / len(b)))
    if not rows:
        return []
    out = [Table(f"Per-frame error difference with {baseline} (mm; lowest seed)",
                 ["sequence", "method", "mode", "h (s)", "mean diff", "95 % interval",
                  "cycles", "verdict"], rows,
                 "negative = lower error than the baseline; interval from resampling whole "
                 "breathing cycles of the test window (1000 resamples)")]
    wrows = []
    for (m, mode), ps in sorted(pairs.items()):
        if len(ps) < 2:
            continue
        a = [x for x, _ in ps]
        b = [y for _, y in ps]
        stat, p = wilcoxon_paired(a, b)
        diffs = sorted(x - y for x, y in ps)
        wrows.append([m, mode, str(len(ps)), f"{diffs[len(diffs) // 2]:+.3f}", f"{stat:g}",
                      f"{p:.3g}"])
    if wrows:
        out.append(Table(f"Wilcoxon signed-rank test against {baseline} over (sequence, horizon)"
                         " pairs", ["method", "mode", "pairs", "median diff", "W", "p"], wrows,
                         "two-sided; pairs are the mean test errors of each sequence and horizon"))
    return out


def error_table(data: ReportData) -> Table | None:
    """Jobs that failed, with their message."""
    if not data.errors:
        return None
    return Table("Failed jobs", ["job", "error"], [[a, b] for a, b in data.errors])
