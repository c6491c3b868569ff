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
is taken from the causal run (for a method that was run in reference mode at other horizons of
that rate). Where a cell has fewer sequences than the rate's complete set, the
mean is marked ``*n`` with the number of sequences.

A run folder named after its rate (``10hz``) holds the main rows. Any other folder (e.g.
``10hz-grid``, a larger RNN grid with several seeds) is a *variant*: its rows keep their rate but
get the method key ``METHOD:SUFFIX`` (``snap1:grid``; the suffix is the folder name without the
``RATE-`` prefix), shown as separately labelled columns, rows and curves next to the method's main
ones, so that two runs of one method never mix. A variant with several seeds is the mean over
seeds of the test metric, each seed having chosen its own setting on the validation window
(``motionpredict.evaluation.tables.summary_rows``); the relative RMSE is that mean RMSE divided by
no prediction's (seed-independent) RMSE.

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

from motionpredict.evaluation.store import ResultStore
from motionpredict.evaluation.tables import job_rows, summary_rows
from motionpredict.forecasters import get
from motionpredict.io.sidecar import rate_key

#: Display order and names (a variant ``METHOD:SUFFIX`` follows its method).
METHODS = ("no-prediction", "linear", "svr", "transformer", "transformer-population", "lms", "rls",
           "snap1", "dni", "uoro", "rtrl", "aggregator")
LABEL = {"no-prediction": "no prediction", "linear": "linear (OLS/ridge)", "svr": "SVR",
         "transformer": "transformer (seq.)",
         "transformer-population": "transformer (population, LOO)", "lms": "LMS", "rls": "RLS",
         "snap1": "SnAp-1", "dni": "DNI", "uoro": "UORO", "rtrl": "RTRL",
         "aggregator": "aggregator (ours)"}
RATES = ("3.33hz", "10hz", "30hz")
#: Plot markers of the variants (in the order of their suffixes) and their names.
_MARKERS = ("s", "^", "D", "v")
_MARKER_NAMES = {"s": "squares", "^": "triangles", "D": "diamonds", "v": "inverted triangles"}
#: Relative-RMSE range of the plot (log scale).
YLIM = (0.04, 20.0)
BEGIN, END = "<!-- BEGIN marker_tables -->", "<!-- END marker_tables -->"
_GROUP = ("sequence", "method", "mode", "horizon_s")
METRICS = ("mae_mm", "rmse_mm", "nrmse", "max_mm", "jitter_mm", "rel_rmse")


def base_method(method: str) -> str:
    """The forecaster name of a method key (``snap1:grid`` -> ``snap1``)."""
    return method.partition(":")[0]


def method_order(method: str) -> tuple[int, str]:
    """Sort key: the display order of :data:`METHODS`, a variant right after its method, unknown
    methods last."""
    b, _, v = method.partition(":")
    return (METHODS.index(b) if b in METHODS else len(METHODS), v)


def variant_suffix(folder: str, rate: str) -> str:
    """``""`` for a rate's main run folder (``10hz``), else the variant suffix (``10hz-grid`` ->
    ``grid``; a folder not starting with ``RATE-`` gives its whole name)."""
    if folder == rate:
        return ""
    return folder[len(rate) + 1:] if folder.startswith(rate + "-") else folder


def label(method: str, index: dict[tuple, dict[str, Any]] | None = None) -> str:
    """Display name: ``SnAp-1``; a variant ``SnAp-1 (grid, 3 seeds)`` (seeds counted in
    ``index`` when given and more than one)."""
    b, _, v = method.partition(":")
    text = LABEL.get(b, b)
    if not v:
        return text
    seeds = ({s for k, r in index.items() if k[2] == method for s in r.get("seeds", ())}
             if index else set())
    return f"{text} ({v}" + (f", {len(seeds)} seeds" if len(seeds) > 1 else "") + ")"


def load_rows(root: Path) -> list[dict[str, Any]]:
    """Summary rows (mean over seeds) of every run folder below ``root``, with ``rate``,
    ``rel_rmse``, ``run``, ``seeds`` and ``grid`` added; rows of a variant folder get the method
    key ``METHOD:SUFFIX``. Jobs that failed are reported on stderr and left out."""
    rows: list[dict[str, Any]] = []
    stores = sorted({p.parent for p in root.rglob("results.sqlite")})
    if not stores:
        raise SystemExit(f"{root}: no results.sqlite below this folder")
    for folder in stores:
        with ResultStore(folder, create=False) as st:
            raw = list(st.rows())
        grids: dict[tuple, str] = {}
        seeds: dict[tuple, set[int]] = defaultdict(set)
        for j in raw:
            sp = j["spec"]
            g = (sp["sequence_name"], sp["method"], sp["mode"], sp["horizon_s"])
            grids[g] = json.dumps(sp.get("grid", {}), sort_keys=True)
            if "error" not in j["result"]:
                seeds[g].add(int(sp["seed"]))
        jobs = job_rows(raw)
        del raw
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
            r["rel_rmse_std"] = r.get("rmse_mm_std", 0.0) / r["no_prediction_rmse_mm"]
            g = (r["sequence"], r["method"], r["mode"], r["horizon_s"])
            r["grid"], r["seeds"] = grids.get(g, "{}"), sorted(seeds[g])
            r["run"] = folder.name
            suffix = variant_suffix(folder.name, r["rate"])
            if suffix:
                r["method"] = f"{r['method']}:{suffix}"
            rows.append(r)
    return rows


def by_mode(rows: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    """Index rows by ``(rate, mode, method, sequence, horizon_steps)``; offline methods' causal
    rows also stand for reference mode (flag ``offline``)."""
    out: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        offline = not get(base_method(r["method"])).online
        if offline and r["mode"] != "causal":
            continue  # identical by construction; the causal run is the one shown
        modes = ("causal", "reference") if offline else (r["mode"],)
        for m in modes:
            out[(r["rate"], m, r["method"], r["sequence"], int(r["horizon_steps"]))] = {
                **r, "offline": offline}
    # h = 1: the reference update (target of the prediction just made) is the causal one; only
    # for a method run in reference mode somewhere at that rate (else it has no reference rows)
    has_ref = {(k[0], k[2]) for k, r in out.items() if k[1] == "reference" and not r["offline"]}
    for (rate, mode, meth, seq, h), r in list(out.items()):
        key = (rate, "reference", meth, seq, h)
        if (h == 1 and mode == "causal" and not r["offline"] and key not in out
                and (rate, meth) in has_ref):
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
    methods = sorted(cells, key=method_order)
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
            for m in methods if get(base_method(m)).online)]
    head = ["h (s)"] + [label(m, index) + (" =" if not get(base_method(m)).online else "")
                        for m in methods]
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
                  key=lambda k: (method_order(k[2]), k[1], k[4]))
    for k in keys:
        r = index[k]
        if k[1] == "reference" and (r["offline"] or r.get("from_causal")):
            continue  # shown once (mode-independent, or h = 1 where the modes coincide)
        period = period or float(r["horizon_s"]) / float(r["horizon_steps"])
        mode = "(offline)" if r["offline"] else k[1]
        params = _short_params(r.get("params", ""), varied.get(k[2], set()))
        rel = _fmt(r["rel_rmse"])
        if r.get("n_seeds", 1) > 1:
            rel += f" ± {_fmt(r.get('rel_rmse_std', math.nan))}"
        lines.append(
            f"| {label(k[2], index)} | {mode} | {k[4] * period:.1f} | {_fmt(r['mae_mm'])} "
            f"| {_fmt(r['rmse_mm'])} | {_fmt(r['nrmse'])} | {_fmt(r['max_mm'])} "
            f"| {_fmt(r['jitter_mm'])} | {rel} | {params} |")
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
    suffixes = sorted({k[2].partition(":")[2] for k in index if ":" in k[2]})
    shapes = {v: _MARKERS[i % len(_MARKERS)] for i, v in enumerate(suffixes)}
    for ax, rate in zip(axes[0], rates, strict=True):
        period = period_of(index, rate)
        for mode, style in (("causal", "-"), ("reference", "--")):
            methods, horizons, cells, n_seq = mean_table(index, rate, mode, "rel_rmse")
            for m in methods:
                b, online, variant = base_method(m), get(base_method(m)).online, ":" in m
                if m == "no-prediction" or (mode == "reference" and not online):
                    continue
                hs = [h for h in horizons if h in cells[m] and cells[m][h][1] == n_seq]
                if not hs:
                    continue
                shape = shapes[m.partition(":")[2]] if variant else ("o" if len(hs) < 8 else None)
                ax.plot([h * period for h in hs], [cells[m][h][0] for h in hs],
                        style if online else ":", color=colours.get(b, "tab:olive"),
                        marker=shape,
                        ms=4 if variant else 3,
                        lw=2.2 if b in ("aggregator", "rls") or variant else 1.3,
                        label=label(m, index) + (f" ({mode})" if online else ""))
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_title(f"{rate.replace('hz', ' Hz')}: mean over {n_seq} sequences")
    notes = variant_notes(index)
    if notes:
        shape_names = "; ".join(f"{_MARKER_NAMES[shapes[v]]} ({v})" for v in suffixes)
        fig.text(0.5, 0.01, f"Markers: {shape_names}. " + "; ".join(notes), ha="center",
                 fontsize=7, wrap=True)
        ax.set_xlabel("horizon (s)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("relative RMSE (method / no prediction), log scale")
    axes[0][0].set_yscale("log")
    axes[0][0].set_ylim(YLIM)
    ticks = [0.05, 0.1, 0.15, 0.25, 0.35, 0.5, 0.7, 1, 1.5, 2, 4, 8, 16]
    axes[0][0].set_yticks(ticks, [f"{t:g}" for t in ticks])
    axes[0][0].yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    handles, labels = [], []
    for ax in axes[0]:
        for hd, lb in zip(*ax.get_legend_handles_labels(), strict=True):
            if lb not in labels:
                handles.append(hd)
                labels.append(lb)
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.03), ncol=4,
               fontsize=8, frameon=False)
    fig.text(0.5, 0.97, "External markers, test windows: solid = causal, dashed = reference "
             f"(published look-ahead), dotted = offline; values outside {YLIM[0]:g}-{YLIM[1]:g} "
             "are clipped",
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


_FIRST = ("k", "q", "eta")  # grid parameters named first in the variant notes


def _num(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def variant_notes(index: dict[tuple, dict[str, Any]], rate: str | None = None) -> list[str]:
    """One line per variant suffix (of ``rate``, or every rate): its run folder(s), the grid of
    each method as stored in the jobs, and the seeds."""
    runs: dict[str, set[str]] = defaultdict(set)
    grids: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    seeds: dict[str, set[int]] = defaultdict(set)
    for k, r in index.items():
        if ":" in k[2] and (rate is None or k[0] == rate) and not r.get("from_causal"):
            b, _, v = k[2].partition(":")
            runs[v].add(r["run"])
            grids[v][b].add(r.get("grid", "{}"))
            seeds[v].update(r.get("seeds", ()))
    out = []
    for v in sorted(runs):
        same: dict[str, list[str]] = defaultdict(list)  # grid -> methods (display order)
        for b in sorted(grids[v], key=method_order):
            for g in sorted(grids[v][b]):
                same[g].append(LABEL.get(b, b))
        desc = []
        for g, names in same.items():
            d = json.loads(g)
            desc.append(", ".join(names) + " " + (" x ".join(
                f"{n} {{{', '.join(map(_num, d[n]))}}}"
                for n in sorted(d, key=lambda n: (_FIRST.index(n) if n in _FIRST else 9, n)))
                or "defaults"))
        out.append(f"({v}) = run folder {', '.join(sorted(runs[v]))}: "
                   + "; ".join(desc) + f"; seeds {', '.join(map(str, sorted(seeds[v])))}")
    return out


def mean_markdown(index: dict[tuple, dict[str, Any]]) -> str:
    """All mean tables (per rate: relative RMSE and nRMSE, causal and reference)."""
    parts = []
    for rate in RATES:
        if not any(k[0] == rate for k in index):
            continue
        notes = variant_notes(index, rate)
        if notes:
            parts.append(f"Variant columns at {rate.replace('hz', ' Hz')}: "
                         + ". ".join(notes) + ". Several seeds: mean over seeds of the test "
                         "metric, each seed with the setting it chose on the validation "
                         "window.\n")
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
             "those that vary; one per seed, ` / `-separated, when the seeds chose differently). "
             "Rows of several seeds show the mean over seeds (relative RMSE ± its standard "
             "deviation over seeds).\n"]
    notes = variant_notes(index)
    if notes:
        parts.append("Variants: " + ". ".join(notes) + ".\n")
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
