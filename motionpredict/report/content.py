"""The tables of a report (shared by the HTML and PDF renderers)."""

from __future__ import annotations

import json
import platform
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from motionpredict.evaluation.stats import (
    breathing_cycles,
    cycle_bootstrap,
    spread,
    wilcoxon_paired,
)
from motionpredict.report.data import ReportData

#: Secondary metrics shown per kind of data, with their column titles.
DETAIL_METRICS: dict[str, list[tuple[str, str]]] = {
    "image": [("dvf_mean_mm", "DVF mean (mm)"), ("dvf_max_mm", "DVF max (mm)"),
              ("dvf_roi_mean_mm", "DVF ROI mean (mm)"), ("dvf_true_mean_mm", "vs truth (mm)"),
              ("pca_truncation_mean_mm", "PCA trunc. (mm)"), ("nrmse", "nRMSE"),
              ("ssim_255", "SSIM (L=255)"), ("ssim_true_range", "SSIM (true L)"),
              ("pearson", "Pearson"), ("total_median_ms", "ms/frame (median)")],
    "markers": [("mae_mm", "MAE (mm)"), ("rmse_mm", "RMSE (mm)"), ("nrmse", "nRMSE"),
                ("max_mm", "max (mm)"), ("jitter_mm", "jitter (mm)"),
                ("no_prediction_rmse_mm", "no-pred. RMSE (mm)"),
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


def _pm(values: list[float]) -> str:
    s = spread(values)
    if s.n == 0:
        return "-"
    if s.n == 1:
        return f"{s.mean:.3f}"
    return f"{s.mean:.3f} ± {s.std:.3f}"


def sequence_tables(data: ReportData) -> list[Table]:
    """Per sequence and mode: headline error (mean ± std over seeds) per method and horizon, then
    the detailed metrics."""
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
            for j in mj:
                v = j["result"]["metrics"].get(metric)
                if v is not None:
                    cells[(j["spec"]["method"], j["spec"]["horizon_s"])].append(v)
            methods = sorted({j["spec"]["method"] for j in mj})
            rows = [[m] + [_pm(cells.get((m, h), [])) for h in hs] for m in methods]
            tag = " (REFERENCE MODE: published look-ahead)" if mode == "reference" else ""
            out.append(Table(f"{seq}: {label}, {mode} mode{tag}",
                             ["method"] + [f"h = {h:g} s" for h in hs], rows,
                             "test window only; mean ± std over seeds"))
            cols = DETAIL_METRICS[kind if kind in ("markers", "ct4d") else "image"]
            present = [(k, t) for k, t in cols if any(k in j["result"]["metrics"] for j in mj)]
            groups: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
            for j in mj:
                groups[(j["spec"]["method"], j["spec"]["horizon_s"])].append(
                    j["result"]["metrics"])
            drows = []
            for (m, h), ms in sorted(groups.items()):
                drows.append([m, f"{h:g}"] + [_pm([x[k] for x in ms if x.get(k) is not None])
                                              for k, _ in present])
            out.append(Table(f"{seq}: all metrics, {mode} mode{tag}",
                             ["method", "h (s)"] + [t for _, t in present], drows,
                             "test window only; mean ± std over seeds"))
    return out


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
    return Table("Settings chosen on the validation window",
                 ["sequence", "method", "mode", "h (s)", "h (frames)", "chosen",
                  "seeds agreeing", "grid size"], rows,
                 "validation score: mean DVF error (cine) or RMSE (markers, 4DCT points) on "
                 "validation "
                 "targets no fit has seen")


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
