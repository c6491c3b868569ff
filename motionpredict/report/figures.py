"""Matplotlib figures of a report (object API only: no pyplot state, no screen, any backend).

Each function returns a :class:`matplotlib.figure.Figure` (or ``None`` when the run has nothing to
show for it); :mod:`~motionpredict.report.html` embeds them as PNG, :mod:`~motionpredict.report.pdf`
puts them on PDF pages.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from motionpredict.report.data import ReportData


def _subplots(*args: Any, figsize: tuple[float, float], **kw: Any) -> tuple[Figure, Any]:
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kw)


STAGES = ("register", "project", "forecast", "reconstruct", "warp")
A4_LANDSCAPE = (11.69, 8.27)


def error_vs_horizon(data: ReportData, kind: str) -> Figure:
    """Headline error against the horizon, one line per method (mean ± std band over seeds and
    sequences), one panel per mode; reference-mode panels are labelled as such."""
    metric, label = data.main_metric(kind)
    modes = data.modes()
    fig, axes = _subplots(1, len(modes), figsize=(5.6 * len(modes), 4.2), squeeze=False,
                             sharey=True)
    from motionpredict.report.content import methods_by_error

    for ax, mode in zip(axes[0], modes, strict=True):
        kj = [j for j in data.jobs if j["spec"]["kind"] == kind and j["spec"]["mode"] == mode]
        for method in methods_by_error(kj, metric):  # legend: best first
            hs, mean, std = data.curve(kind, method, mode, metric)
            if hs.size == 0:
                continue
            (line,) = ax.plot(hs, mean, marker="o", ms=3, label=method)
            ax.fill_between(hs, mean - std, mean + std, color=line.get_color(), alpha=0.2)
        title = f"{kind}: {mode} mode"
        if mode == "reference":
            title += "\n(published look-ahead, not clinically valid)"
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("horizon (s)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(label)
    axes[0][-1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def _first_jobs(data: ReportData, sequence: str) -> dict[str, dict[str, Any]]:
    """Per method: the causal (else first) job with the shortest horizon and lowest seed."""
    best: dict[str, dict[str, Any]] = {}
    for j in data.jobs:
        s = j["spec"]
        if s["sequence_name"] != sequence:
            continue
        key = (s["mode"] != "causal", s["horizon_s"], s["seed"])
        cur = best.get(s["method"])
        if cur is None or key < (cur["spec"]["mode"] != "causal", cur["spec"]["horizon_s"],
                                 cur["spec"]["seed"]):
            best[s["method"]] = j
    return best


def traces(data: ReportData, sequence: str, max_methods: int = 4) -> Figure | None:
    """True vs predicted first PCA weight (cine), superior-inferior coordinate of the first
    marker (markers) or slice-axis coordinate of the first internal point (4DCT) over the
    validation and test windows, for up to ``max_methods`` methods."""
    from motionpredict.report.content import methods_by_error

    jobs = _first_jobs(data, sequence)
    if not jobs:
        return None
    kind = next(iter(jobs.values()))["spec"]["kind"]
    metric = data.main_metric(kind)[0]
    methods = methods_by_error(list(jobs.values()), metric)[:max_methods]  # best first
    fig, axes = _subplots(len(methods), 1, figsize=(10, 1.9 * len(methods) + 0.8),
                             squeeze=False, sharex=True)
    for ax, m in zip(axes[:, 0], methods, strict=True):
        j = jobs[m]
        tr = j["result"]["traces"]
        comp = 0 if j["spec"]["kind"] != "markers" else 2  # z (SI) of the first marker
        t = np.asarray(tr["time_s"])
        true = np.asarray(tr["true"], dtype=float)[:, comp]
        pred = np.asarray([[np.nan if v is None else v for v in row] for row in tr["predicted"]],
                          dtype=float)[:, comp]
        ax.plot(t, true, color="k", lw=1.2, label="acquired")
        ax.plot(t, pred, color="tab:red", lw=1.0, label="predicted")
        sp = j["result"]["splits"]
        t0 = tr["t"][0]
        test_start = sp["test"][0] - t0
        if 0 <= test_start < len(t):
            ax.axvspan(t[test_start], t[-1], color="tab:blue", alpha=0.08, label="test window")
        s = j["spec"]
        ax.set_title(f"{m}  ({s['mode']}, h = {s['horizon_s']:g} s, seed {s['seed']})",
                     fontsize=9)
        ylabel = {"markers": "marker 1 z (mm)", "ct4d": "point 1 SI / slice axis (mm)"}
        # a PCA weight is a coefficient of a unit-norm field mode: not a length in mm
        ax.set_ylabel(ylabel.get(j["spec"]["kind"], "PCA weight 1 (a.u.)"), fontsize=8)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7, loc="upper right", ncol=3)
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(f"{sequence}: acquired vs predicted", fontsize=10)
    fig.tight_layout()
    return fig


def triplets(data: ReportData, sequence: str) -> Figure | None:
    """Acquired, predicted and difference frames at the chosen test times, with the ROI, for the
    method with the lowest test error (causal mode preferred) among jobs that saved frames."""
    cands = [j for j in data.jobs if j["spec"]["sequence_name"] == sequence
             and j["result"].get("artifacts")]
    if not cands:
        return None
    cands.sort(key=lambda j: (j["spec"]["mode"] != "causal", j["spec"]["horizon_s"],
                              j["result"]["metrics"].get("dvf_mean_mm", np.inf)))
    j = cands[0]
    path = Path(data.run_dir) / j["result"]["artifacts"]
    if not path.is_file():
        return None
    with np.load(path) as a:
        ts, acq, pred = a["triplet_t"], a["triplet_acquired"], a["triplet_predicted"]
        roi = a["roi"] if "roi" in a.files else None
    if acq.ndim == 4:  # 3D: show the middle slice
        mid = acq.shape[1] // 2
        acq, pred = acq[:, mid], pred[:, mid]
        roi = roi[mid] if roi is not None else None
    n = len(ts)
    fig, axes = _subplots(n, 3, figsize=(8.5, 2.8 * n + 0.6), squeeze=False)
    vmin, vmax = float(acq.min()), float(acq.max())
    dmax = float(np.abs(pred - acq).max()) or 1.0
    period = j["result"].get("period_s", float("nan"))
    for i in range(n):
        diff = pred[i] - acq[i]
        for k, (img, title, kw) in enumerate((
            (acq[i], f"acquired, frame {int(ts[i]) + 1}", {"cmap": "gray", "vmin": vmin,
                                                          "vmax": vmax}),
            (pred[i], "predicted", {"cmap": "gray", "vmin": vmin, "vmax": vmax}),
            (diff, "predicted - acquired", {"cmap": "RdBu_r", "vmin": -dmax, "vmax": dmax}),
        )):
            ax = axes[i, k]
            im = ax.imshow(img, **kw)
            ax.set_title(title, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            if roi is not None and roi.any():
                rows, cols = np.nonzero(roi)
                ax.add_patch(Rectangle((cols.min() - 0.5, rows.min() - 0.5),
                                       cols.max() - cols.min() + 1, rows.max() - rows.min() + 1,
                                       fill=False, ec="yellow", lw=1))
            if k >= 1:
                cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
                cb.set_label("intensity (image units)" if k == 1 else
                             "predicted - acquired (image units)", fontsize=7)
                cb.ax.tick_params(labelsize=6)
    s = j["spec"]
    fig.suptitle(f"{sequence}: {s['method']}, {s['mode']} mode, h = {s['horizon_s']:g} s "
                 f"({s['horizon_steps']} x {period:.4g} s); ROI in yellow", fontsize=9)
    fig.tight_layout()
    return fig


def latency(data: ReportData, kind: str) -> Figure | None:
    """Median (bar) and 99th percentile (whisker) time per stage and method, stacked, against the
    frame period and the configured system latency, for one kind of data."""
    per: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    periods = []
    for j in data.jobs:
        if j["spec"]["kind"] != kind:
            continue
        st = j["result"].get("traces", {}).get("stage_ms", {})
        for stage, vals in st.items():
            per[j["spec"]["method"]][stage].extend(vals)
        if j["result"].get("period_s"):
            periods.append(float(j["result"]["period_s"]))
    if not per:
        return None
    methods = sorted(per)
    fig, ax = _subplots(figsize=(max(8.0, 0.9 * len(methods) + 6), 4.4))
    x = np.arange(len(methods))
    bottom = np.zeros(len(methods))
    stages = [s for s in STAGES if any(s in per[m] for m in methods)]
    for s in stages:
        med = np.array([np.median(per[m][s]) if per[m][s] else 0.0 for m in methods])
        ax.bar(x, med, bottom=bottom, label=f"{s} (median)")
        bottom += med
    p99 = np.array([np.percentile(np.sum([np.asarray(per[m][s]) for s in stages
                                          if len(per[m][s]) == len(per[m][stages[0]])], axis=0),
                                  99) for m in methods])
    ax.errorbar(x, bottom, yerr=[np.zeros_like(bottom), np.maximum(p99 - bottom, 0)], fmt="none",
                ecolor="k", capsize=4, label="99th percentile of the total")
    top = float(max(p99.max(), bottom.max()))
    if periods:
        ax.axhline(min(periods) * 1e3, color="tab:red", ls="--",
                   label=f"shortest frame period {min(periods) * 1e3:.0f} ms")
        top = max(top, min(periods) * 1e3)
    sys_lat = data.config.get("system_latency_ms")
    if sys_lat:
        ax.axhline(float(sys_lat), color="tab:purple", ls=":",
                   label=f"configured system latency {float(sys_lat):.0f} ms")
        top = max(top, float(sys_lat))
    ax.set_ylim(0, top * 2.0)
    ax.set_xticks(x, methods, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("time per frame (ms)")
    medians = [float(np.median(per[m][s])) for m in methods for s in stages if per[m][s]]
    positive = [v for v in medians if v > 0]
    lin = 10.0 ** np.floor(np.log10(min(positive))) if positive else 1.0
    ax.set_yscale("symlog", linthresh=lin)
    note = "" if kind == "markers" else " (register: timed when the field was first computed)"
    ax.set_title(f"{kind}: latency per stage{note}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig
