"""The tables of a report (shared by the HTML and PDF renderers)."""

from __future__ import annotations

import json
import platform
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from motionpredict.evaluation.stats import spread
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
            cols = DETAIL_METRICS["markers" if kind == "markers" else "image"]
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
                 "validation score: mean DVF error (cine) or RMSE (markers) on validation "
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


def error_table(data: ReportData) -> Table | None:
    """Jobs that failed, with their message."""
    if not data.errors:
        return None
    return Table("Failed jobs", ["job", "error"], [[a, b] for a, b in data.errors])
