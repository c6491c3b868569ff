"""Tables of a run's results: one row per job, and summaries over seeds (CSV, JSON, Markdown).

Rows are labelled and grouped by the horizon actually used, ``horizon_steps`` x the sequence's
period (``horizon_s``); ``requested_horizon_s`` is what the configuration asked for (they differ
when ``round_horizons = true`` rounded it).
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from typing import Any

from motionpredict.errors import ConfigurationError
from motionpredict.evaluation.stats import spread

#: Formats :func:`export` writes.
FORMATS = ("csv", "json", "markdown")

_ID = ("sequence", "kind", "method", "mode", "horizon_s", "horizon_steps", "seed")

#: Columns that describe a job, never averaged as metrics.
_LABELS = ("requested_horizon_s", "period_s", "elapsed_s", "n_components")


def actual_horizon_s(spec: dict[str, Any], result: dict[str, Any] | None = None) -> float:
    """The horizon a stored job used, in s: ``horizon_steps`` x the sequence's period.

    Stores written since the horizon was recorded as used hold it as ``spec["horizon_s"]`` (with
    ``requested_horizon_s`` beside it); older ones held the requested time there, so it is
    recomputed from the result's ``period_s`` when that is known.
    """
    if "requested_horizon_s" in spec or not result or result.get("period_s") is None:
        return float(spec["horizon_s"])
    return round(int(spec["horizon_steps"]) * float(result["period_s"]), 9)


def job_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flatten stored jobs to table rows: identifiers, chosen setting, metrics (or the error)."""
    out = []
    for r in rows:
        spec, res = r["spec"], r["result"]
        row: dict[str, Any] = {
            "sequence": spec["sequence_name"], "kind": spec["kind"], "method": spec["method"],
            "mode": spec["mode"], "horizon_s": actual_horizon_s(spec, res),
            "horizon_steps": spec["horizon_steps"], "seed": spec["seed"],
            "requested_horizon_s": spec.get("requested_horizon_s", spec["horizon_s"]),
        }
        if "error" in res:
            row["error"] = res["error"]
        else:
            chosen = res.get("chosen", {})
            if "n_components" in chosen:
                row["n_components"] = chosen["n_components"]
            row["params"] = json.dumps(chosen.get("params", {}), sort_keys=True)
            row["validation_score"] = res.get("validation_score")
            row.update(res.get("metrics", {}))
        row["elapsed_s"] = round(float(r.get("elapsed_s", 0.0)), 3)
        out.append(row)
    out.sort(key=lambda x: tuple(str(x[k]) if k in ("sequence", "kind", "method", "mode")
                                 else float(x[k]) for k in _ID))
    return out


def summary_rows(rows: list[dict[str, Any]], metrics: list[str] | None = None
                 ) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds per sequence, method, mode and horizon."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if "error" not in r:
            groups[tuple(r[k] for k in _ID[:-1])].append(r)
    out = []
    for key, rs in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        names = metrics or sorted({k for r in rs for k, v in r.items()
                                   if isinstance(v, (int, float)) and k not in _ID
                                   and k not in _LABELS})
        row: dict[str, Any] = dict(zip(_ID[:-1], key, strict=True))
        requested = sorted({r["requested_horizon_s"] for r in rs
                            if r.get("requested_horizon_s") is not None})
        if requested:
            row["requested_horizon_s"] = requested[0] if len(requested) == 1 else requested
        row["n_seeds"] = len(rs)
        for m in names:
            s = spread([r.get(m, float("nan")) for r in rs])
            row[m] = s.mean
            row[f"{m}_std"] = s.std
        out.append(row)
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def export(rows: list[dict[str, Any]], fmt: str) -> str:
    """Render rows as ``csv``, ``json`` or ``markdown`` text."""
    if fmt not in FORMATS:
        raise ConfigurationError(f"format must be one of {FORMATS}, got {fmt!r}")
    if fmt == "json":
        return json.dumps(rows, indent=1, default=str) + "\n"
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in cols})
        return buf.getvalue()
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(k)) for k in cols) + " |")
    return "\n".join(lines) + "\n"
