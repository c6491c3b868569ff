"""What a report shows, gathered from a run folder (results store + artifacts).

Only de-identified fields travel into a report: sequence names from sidecars or folder names,
dataset names, licences and citations, never DICOM patient attributes (the store holds none).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from motionpredict.errors import InputFileError
from motionpredict.evaluation.stats import spread
from motionpredict.evaluation.store import ResultStore


@dataclass
class ReportData:
    """Everything the report renders.

    Attributes
    ----------
    run_dir
        The run folder.
    jobs
        Stored jobs (``spec``, ``result`` ...), errors excluded.
    errors
        ``(job description, message)`` of failed jobs.
    config
        The run configuration (as stored).
    version
        motionpredict version that produced the results.
    """

    run_dir: Path
    jobs: list[dict[str, Any]]
    errors: list[tuple[str, str]]
    config: dict[str, Any]
    version: str
    title: str = "motionpredict evaluation report"
    extra: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ helpers
    def kinds(self) -> list[str]:
        """Kinds of data in the run (``image-2d``, ``image-3d``, ``markers``, ``ct4d``)."""
        return sorted({j["spec"]["kind"] for j in self.jobs})

    def main_metric(self, kind: str) -> tuple[str, str]:
        """``(metric key, label)`` of the headline error of a kind of data (in mm; marker
        tables show the nRMSE beside it)."""
        if kind == "markers":
            return "rmse_mm", "RMSE of marker positions (mm)"
        if kind == "ct4d":
            return "rmse_mm", "RMSE of internal-point positions (mm)"
        return "dvf_mean_mm", "mean geometric (DVF) error vs LK field (mm)"

    def sequences(self, kind: str | None = None) -> list[str]:
        """Sequence names (optionally of one kind)."""
        return sorted({j["spec"]["sequence_name"] for j in self.jobs
                       if kind is None or j["spec"]["kind"] == kind})

    def curve(self, kind: str, method: str, mode: str, metric: str, sequence: str | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Error vs horizon: ``(horizons_s, mean, std)`` over seeds (and sequences)."""
        by_h: dict[float, list[float]] = defaultdict(list)
        for j in self.jobs:
            s = j["spec"]
            if (s["kind"], s["method"], s["mode"]) != (kind, method, mode):
                continue
            if sequence is not None and s["sequence_name"] != sequence:
                continue
            v = j["result"]["metrics"].get(metric)
            if v is not None:
                by_h[float(s["horizon_s"])].append(float(v))
        hs = np.array(sorted(by_h))
        sp = [spread(by_h[h]) for h in hs]
        return hs, np.array([s.mean for s in sp]), np.array([s.std for s in sp])

    def methods(self, kind: str) -> list[str]:
        """Methods evaluated on a kind of data."""
        return sorted({j["spec"]["method"] for j in self.jobs if j["spec"]["kind"] == kind})

    def modes(self) -> list[str]:
        """Modes in the run (causal first)."""
        return sorted({j["spec"]["mode"] for j in self.jobs}, key=lambda m: m != "causal")


def load_report_data(run_dir: str | Path) -> ReportData:
    """Read a run folder's results for a report."""
    run_dir = Path(run_dir)
    with ResultStore(run_dir, create=False) as store:
        rows = list(store.rows())
        config = store.get_meta("config", {}) or {}
        version = store.get_meta("version", "unknown")
        title = store.get_meta("title", None)
        extra = store.get_meta("extra", {}) or {}
    if not rows:
        raise InputFileError(run_dir, "the results store holds no finished job yet")
    jobs, errors = [], []
    for r in rows:
        if "error" in r["result"]:
            s = r["spec"]
            errors.append((f"{s['sequence_name']} {s['method']} {s['mode']} h={s['horizon_s']:g}s"
                           f" seed {s['seed']}", r["result"]["error"]))
        else:
            jobs.append(r)
    if not jobs:
        raise InputFileError(run_dir, f"every job failed ({len(errors)}); nothing to report")
    return ReportData(run_dir=run_dir, jobs=jobs, errors=errors, config=config,
                      version=str(version), title=title or "motionpredict evaluation report",
                      extra=extra)
