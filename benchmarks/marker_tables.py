"""Acceptance tables of issue #5 on the external-marker data, from batch-evaluation result stores.

Reads the run folders written by ``motionpredict evaluate benchmarks/configs/markers_*.toml``
(``results.sqlite`` each; one folder per rate, several configurations may feed one folder with
``--resume``) and writes

* per rate and mode, the mean over sequences of the relative RMSE (method RMSE / RMSE of no
  prediction at the same horizon, 3D marker positions) and of the nRMSE, method x horizon;
* per rate and sequence, every metric (MAE, RMSE, nRMSE, max error, jitter in mm; relative RMSE)
  for each method, mode and horizon;
* a plot of the mean relative RMSE against the horizon, one panel per rate, causal solid and
  reference dashed.

Offline methods (no prediction, linear regression, SVR, transformer) do not learn online, so the
mode changes nothing for them: they are run in causal mode and their rows are shown in both
modes' tables (marked ``=``). At h = 1 sample the two modes of an online method coincide (the
target of the prediction just made is the one acquired next); a missing reference row at h = 1
is taken from the causal run. Where a cell has fewer sequences than the rate's complete set, the
mean is marked ``*n`` with the number of sequences.

Usage::

    .venv/bin/python benchmarks/marker_tables.py /tmp/marker-tables \
        [--markdown FILE.md | --into docs/results-markers.md] \
        [--per-sequence docs/results-markers-per-sequence.md] \
        [--png docs/images/markers-rel-rmse.png]

Without options it prints the mean tables to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from motionpredict.evaluation.protocol import rate_key
from motionpredict.evaluation.store import ResultStore
from motionpredict.evaluation.tables import job_rows, summary_rows
from motionpredict.forecasters import get

#: Display order and names.
METHODS = ("no-prediction", "linear", "svr", "transformer", "lms", "rls", "snap1", "dni", "uoro",
           "rtrl", "aggregator")
LABEL = {"no-prediction": "no prediction", "linear": "linear (OLS/ridge)", "svr": "SVR",
         "transformer": "transformer (seq.)", "lms": "LMS", "rls": "RLS",
         "snap1": "SnAp-1", "dni": "DNI", "uoro": "UORO", "rtrl": "RTRL",
         "aggregator": "aggregator (ours)"}
RATES = ("3.33hz", "10hz", "30hz")
BEGIN, END = "<!-- BEGIN marker_tables -->", "<!-- END marker_tables -->"
_GROUP = ("sequence", "method", "mode", "horizon_s")
METRICS = ("mae_mm", "rmse_mm", "nrmse", "max_mm", "jitter_mm", "rel_rmse")


def load_rows(root: Path) -> list[dict[str, Any]]:
    """Summary rows (mean over seeds) of every run folder below ``root``, with ``rate`` and
    ``rel_rmse`` added; jobs that failed are reported on stderr and left out."""
    rows: list[dict[str, Any]] = []
    stores = sorted({p.parent for p in root.rglob("results.sqlite")})
    if not stores:
        raise SystemExit(f"{root}: no results.sqlite below this folder")
    for folder in stores:
        with ResultStore(folder, create=False) as st:
            jobs = job_rows(list(st.rows()))
        for r in jobs:
            if "error" in r:
                print(f"{folder.name}: {r['sequence']} {r['method']} {r['mode']} "
                      f"h={r['horizon_steps']}: {r['error']}", file=sys.stderr)
        params: dict[tuple, set[str]] = defaultdict(set)
        for r in jobs:
            if "error" not in r:
                params[tuple(r[k] for k in _GROUP)].add(r.get("params", ""))
        for r in summary_rows([r for r in jobs if "error" not in r]):
            r["params"] = " / ".join(sorted(params[tuple(r[k] for k in _GROUP)]))
            r["rate"] = rate_key(r["horizon_s"] / r["horizon_steps"])
            r["rel_rmse"] = r["rmse_mm"] / r["no_prediction_rmse_mm"]
            r["run"] = folder.name
            rows.append(r)
    return rows


def by_mode(rows: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    """Index rows by ``(rate, mode, method, sequence, horizon_steps)``; offline methods' causal
    rows also stand for reference mode (flag ``offline``)."""
    out: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        offline = not get(r["method"]).online
        if offline and r["mode"] != "causal":
            continue  # identical by construction; the causal run is the one shown
        modes = ("causal", "reference") if offline else (r["mode"],)
        for m in modes:
            out[(r["rate"], m, r["method"], r["sequence"], int(r["horizon_steps"]))] = {
                **r, "offline": offline}
    # h = 1: the reference update (target of the prediction just made) is the causal one
    for (rate, mode, meth, seq, h), r in list(out.items()):
        key = (rate, "reference", meth, seq, h)
        if h == 1 and mode == "causal" and not r["offline"] and key not in out:
            out[key] = {**r, "from_causal": True}
    return out


def _fmt(v: float, digits: int = 3) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def mean_table(index: dict[tuple, dict[str, Any]], rate: str, mode: str, metric: str
               ) -> tuple[list[str], list[int], dict[str, dict[int, tuple[float, int]]], int]:
    """Mean over sequences of ``metric`` per method and horizon.

    Returns
    -------
    methods, horizons, cells, n_seq
        Methods and horizons (steps) present, ``cells[method][h] = (mean, n_sequences)``, and the
        number of sequences of the rate.
    """
    seqs = sorted({k[3] for k in index if k[0] == rate})
    cells: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (r, m, meth, _seq, h), row in index.items():
        if r == rate and m == mode:
            cells[meth][h].append(row[metric])
    methods = [m for m in METHODS if m in cells]
    horizons = sorted({h for m in methods for h in cells[m]})
    out = {m: {h: (float(np.mean(v)), len(v)) for h, v in cells[m].items()} for m in methods}
    return methods, horizons, out, len(seqs)


def period_of(index: dict[tuple, dict[str, Any]], rate: str) -> float:
    """Sample period (s) of a rate, from any row."""
    r = next(row for k, row in index.items() if k[0] == rate)
    return float(r["horizon_s"]) / float(r["horizon_steps"])


def markdown_mean(index: dict[tuple, dict[str, Any]], rate: str, mode: str, metric: str) -> str:
    """A markdown table: rows horizons (s), columns methods; ``*n`` marks incomplete cells."""
    methods, horizons, cells, n_seq = mean_table(index, rate, mode, metric)
    if not methods:
        return "(no results)\n"
    period = period_of(index, rate)
    if mode == "reference":  # rows where an online method was run in reference mode throughout
        full = {k[4] for k, r in index.items() if k[0] == rate and k[1] == mode
                and not r["offline"] and not r.get("from_causal")}
        horizons = [h for h in horizons if h == 1 or any(
            h in full and cells[m].get(h, (0, 0))[1] == n_seq
            for m in methods if get(m).online)]
    head = ["h (s)"] + [LABEL[m] + (" =" if not get(m).online else "") for m in methods]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for h in horizons:
        cols = [f"{h * period:.1f}"]
        for m in methods:
            if h in cells[m]:
                v, n = cells[m][h]
                cols.append(_fmt(v) + ("" if n == n_seq else f" *{n}"))
            else:
                cols.append("")
        lines.append("| " + " | ".join(cols) + " |")
    return "\n".join(lines) + "\n"


def markdown_sequence(index: dict[tuple, dict[str, Any]], rate: str, sequence: str) -> str:
    """Every metric for one sequence and rate: rows method x mode x horizon."""
    period = None
    lines = ["| method | mode | h (s) | MAE (mm) | RMSE (mm) | nRMSE | max (mm) | jitter (mm) "
             "| rel. RMSE | chosen setting |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    varied = _varied_params(index, rate)
    keys = sorted((k for k in index if k[0] == rate and k[3] == sequence),
                  key=lambda k: (METHODS.index(k[2]) if k[2] in METHODS else 99, k[1], k[4]))
    for k in keys:
        r = index[k]
        if k[1] == "reference" and (r["offline"] or r.get("from_causal")):
            continue  # shown once (mode-independent, or h = 1 where the modes coincide)
        period = period or float(r["horizon_s"]) / float(r["horizon_steps"])
        mode = "(offline)" if r["offline"] else k[1]
        params = _short_params(r.get("params", ""), varied.get(k[2], set()))
        lines.append(
            f"| {LABEL.get(k[2], k[2])} | {mode} | {k[4] * period:.1f} | {_fmt(r['mae_mm'])} "
            f"| {_fmt(r['rmse_mm'])} | {_fmt(r['nrmse'])} | {_fmt(r['max_mm'])} "
            f"| {_fmt(r['jitter_mm'])} | {_fmt(r['rel_rmse'])} | {params} |")
    return "\n".join(lines) + "\n"


def _varied_params(index: dict[tuple, dict[str, Any]], rate: str) -> dict[str, set[str]]:
    """Per method, the hyper-parameters whose chosen value differs somewhere at this rate (the
    others were fixed by the grid and are not worth a column)."""
    seen: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for k, r in index.items():
        if k[0] == rate:
            for text in str(r.get("params", "")).split(" / "):
                for name, v in (json.loads(text) if text.startswith("{") else {}).items():
                    seen[k[2]][name].add(json.dumps(v))
    return {m: {n for n, vals in d.items() if len(vals) > 1} for m, d in seen.items()}


def _short_params(text: str, names: set[str]) -> str:
    """``k=24, eta=0.01`` from the chosen-setting JSON, keeping only ``names``."""
    out = []
    for part in str(text).split(" / "):
        d = json.loads(part) if part.startswith("{") else {}
        out.append(", ".join(f"{n}={d[n]:g}" if isinstance(d[n], float) else f"{n}={d[n]}"
                             for n in sorted(d) if n in names))
    return " / ".join(out)


def plot(index: dict[tuple, dict[str, Any]], path: Path) -> None:
    """Mean relative RMSE vs horizon per method: one panel per rate, causal solid, reference
    dashed (offline methods once, dotted), log scale; written atomically as PNG."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = [r for r in RATES if any(k[0] == r for k in index)]
    fig, axes = plt.subplots(1, len(rates), figsize=(max(12.0, 5.4 * len(rates)), 5.6), sharey=True,
                             squeeze=False)
    colours = {"no-prediction": "black", "linear": "tab:orange", "svr": "tab:olive",
               "transformer": "tab:red", "lms": "tab:purple", "rls": "tab:brown",
               "snap1": "tab:pink", "dni": "tab:gray", "uoro": "tab:cyan", "rtrl": "tab:green",
               "aggregator": "tab:blue"}
    for ax, rate in zip(axes[0], rates, strict=True):
        period = period_of(index, rate)
        for mode, style in (("causal", "-"), ("reference", "--")):
            methods, horizons, cells, n_seq = mean_table(index, rate, mode, "rel_rmse")
            for m in methods:
                if m == "no-prediction" or (mode == "reference" and not get(m).online):
                    continue
                hs = [h for h in horizons if h in cells[m] and cells[m][h][1] == n_seq]
                if not hs:
                    continue
                ls = ":" if not get(m).online else style
                ax.plot([h * period for h in hs], [cells[m][h][0] for h in hs], ls,
                        color=colours[m], marker="o" if len(hs) < 8 else None, ms=3,
                        lw=2.2 if m in ("aggregator", "rls") else 1.3,
                        label=f"{LABEL[m]}" + ("" if not get(m).online else f" ({mode})"))
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_title(f"{rate.replace('hz', ' Hz')}: mean over {n_seq} sequences")
        ax.set_xlabel("horizon (s)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("relative RMSE (method / no prediction), log scale")
    axes[0][0].set_yscale("log")
    axes[0][0].set_ylim(0.08, 8.0)
    ticks = [0.1, 0.15, 0.25, 0.35, 0.5, 0.7, 1, 1.5, 2, 4, 8]
    axes[0][0].set_yticks(ticks, [f"{t:g}" for t in ticks])
    axes[0][0].yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    handles, labels = [], []
    for ax in axes[0]:
        for hd, lb in zip(*ax.get_legend_handles_labels(), strict=True):
            if lb not in labels:
                handles.append(hd)
                labels.append(lb)
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.text(0.5, 0.97, "External markers, test windows: solid = causal, dashed = reference "
             "(published look-ahead), dotted = offline; values outside 0.08-8 are clipped",
             ha="center", fontsize=9)
    fig.tight_layout(rect=(0, 0.2, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)


def mean_markdown(index: dict[tuple, dict[str, Any]]) -> str:
    """All mean tables (per rate: relative RMSE and nRMSE, causal and reference)."""
    parts = []
    for rate in RATES:
        if not any(k[0] == rate for k in index):
            continue
        for metric, what in (("rel_rmse", "relative RMSE (RMSE / RMSE of no prediction)"),
                             ("nrmse", "nRMSE")):
            for mode in ("causal", "reference"):
                parts.append(f"#### {rate.replace('hz', ' Hz')}, {mode} mode: {what}\n\n"
                             + markdown_mean(index, rate, mode, metric))
    return "\n".join(parts)


def per_sequence_markdown(index: dict[tuple, dict[str, Any]]) -> str:
    """All per-sequence tables (a page of its own, with a title)."""
    parts = ["# Results on the external-marker data, per sequence\n\n"
             "Generated by `benchmarks/marker_tables.py` from the batch-evaluation result stores; "
             "see [the results page](results-markers.md) for the protocol, the reductions and the "
             "reading. Test window only; errors are 3D marker-position errors in mm; relative RMSE "
             "= RMSE / RMSE of no prediction at the same horizon; `(offline)`: the mode does not "
             "apply; chosen setting = the hyper-parameters picked on the validation window (only "
             "those that vary).\n"]
    for rate in RATES:
        for seq in sorted({k[3] for k in index if k[0] == rate}):
            parts.append(f"### {seq}, {rate.replace('hz', ' Hz')}\n\n"
                         + markdown_sequence(index, rate, seq))
    return "\n".join(parts)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", type=Path, help="folder holding the run folders (results.sqlite)")
    ap.add_argument("--markdown", type=Path, help="write the mean tables here")
    ap.add_argument("--into", type=Path,
                    help=f"replace the mean tables between {BEGIN!r} and {END!r} in this file")
    ap.add_argument("--per-sequence", type=Path, help="write the per-sequence tables here")
    ap.add_argument("--png", type=Path, help="write the relative-RMSE plot here")
    args = ap.parse_args(argv)
    rows = load_rows(args.root)
    index = by_mode(rows)
    text = mean_markdown(index)
    if args.markdown:
        _write(args.markdown, text)
    if args.into:
        doc = args.into.read_text()
        if BEGIN not in doc or END not in doc:
            raise SystemExit(f"{args.into}: the markers {BEGIN} and {END} are missing")
        head, rest = doc.split(BEGIN, 1)
        _write(args.into, head + BEGIN + "\n" + text + "\n" + END + rest.split(END, 1)[1])
    if not (args.markdown or args.into):
        print(text)
    if args.per_sequence:
        _write(args.per_sequence, per_sequence_markdown(index))
    if args.png:
        plot(index, args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
