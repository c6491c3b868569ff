"""The report states the answer first (issue #14 item 4): the summary table on synthetic
results with known errors, methods sorted by error, "± std" only with several seeds, the
cycle-bootstrap gain interval, and what was scored and searched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from motionpredict.errors import ValidationError
from motionpredict.evaluation.stats import cycle_bootstrap_gain
from motionpredict.metrics import marker_metrics
from motionpredict.report import content
from motionpredict.report.data import ReportData

H = 2
TEST = (200, 400)


def _truth(seed: int, n: int = 400) -> np.ndarray:
    t = np.arange(n) * 0.1
    rng = np.random.default_rng(seed)
    z = 8.0 * np.sin(2 * np.pi * t / 4.0)  # 4 s breathing period, SI amplitude 8 mm
    cols = []
    for m in range(3):
        cols += [0.5 * z * (m + 1) / 3, 0.3 * z, z + rng.normal(0, 0.05, n)]
    return np.stack(cols, axis=1)  # (n, 9): x1 y1 z1 x2 y2 z2 x3 y3 z3 (mm)


def _job(seq: str, method: str, true: np.ndarray, pred: np.ndarray, seed: int = 0,
         guarded: float | None = None) -> dict:
    te = slice(*TEST)
    m = marker_metrics(pred[te], true[te])
    m["no_prediction_rmse_mm"] = marker_metrics(true[TEST[0] - H: TEST[1] - H], true[te])[
        "rmse_mm"]
    if guarded is not None:
        m["guarded_forecasts"] = guarded
        m["guarded_fraction"] = guarded / (TEST[1] - TEST[0])
    lo = 100
    return {"spec": {"sequence_name": seq, "kind": "markers", "method": method,
                     "mode": "causal", "horizon_s": H * 0.1, "horizon_steps": H, "seed": seed},
            "result": {"metrics": m, "grid_size": 3 if method == "lms" else 1,
                       "chosen": {"params": {}},
                       "splits": {"train": [0, 50], "validation": [50, 200], "test": list(TEST)},
                       "traces": {"t": list(range(lo, TEST[1])),
                                  "true": true[lo:].tolist(), "predicted": pred[lo:].tolist(),
                                  "breathing": true[te, 2::3].mean(axis=1).tolist()}}}


def _results(seeds: tuple[int, ...] = (0,), sequences: tuple[str, ...] = ("s1",)
             ) -> tuple[ReportData, dict[str, dict[str, float]]]:
    jobs, rmse = [], {}
    for k, seq in enumerate(sequences):
        true = _truth(k)
        rng = np.random.default_rng(10 + k)
        nopred = np.full_like(true, np.nan)
        nopred[H:] = true[:-H]
        rmse[seq] = {}
        for seed in seeds:
            good = true + rng.normal(0, 0.3, true.shape)
            bad = true + rng.normal(0, 3.0, true.shape)
            for method, pred, g in (("lms", good, 3.0), ("zz-bad", bad, None),
                                    ("no-prediction", nopred, None)):
                j = _job(seq, method, true, pred, seed, g)
                jobs.append(j)
                rmse[seq].setdefault(method, []).append(j["result"]["metrics"]["rmse_mm"])
    data = ReportData(run_dir=Path("."), jobs=jobs, errors=[], config={}, version="test")
    return data, {s: {m: float(np.mean(v)) for m, v in d.items()} for s, d in rmse.items()}


def test_summary_table_picks_the_best_method_and_its_gain() -> None:
    data, rmse = _results()
    (table,) = content.summary_tables(data, n_boot=400)
    assert table.title.startswith("Answer: best method per horizon, markers, causal")
    (row,) = table.rows
    hcol, best, err, ref, gain, ci, guard, ranking = row
    assert hcol == "0.2 s (2 samples)" and best == "lms"
    r = rmse["s1"]
    assert err == f"{r['lms']:.3f}" and ref == f"{r['no-prediction']:.3f}"
    want = 100 * (1 - r["lms"] / r["no-prediction"])
    assert want > 50  # lms is far better than repeating the sample 0.2 s earlier
    assert gain == f"{want:+.1f} %"
    lo, hi = (float(x) for x in ci.strip("[] %").split(","))
    assert lo <= round(want, 1) <= hi and hi - lo < 20
    assert guard == "3 (1.5 %)"
    assert [p.split()[0] for p in ranking.split(" < ")] == ["lms", "no-prediction", "zz-bad"]
    assert "(one seed)" in table.note and "breathing cycles" in table.note


def test_two_sequences_average_and_guard_dash() -> None:
    data, rmse = _results(sequences=("s1", "s2"))
    for j in data.jobs:
        j["result"]["metrics"].pop("guarded_forecasts", None)
    (table,) = content.summary_tables(data, n_boot=200)
    row = table.rows[0]
    mean_lms = np.mean([rmse[s]["lms"] for s in ("s1", "s2")])
    mean_ref = np.mean([rmse[s]["no-prediction"] for s in ("s1", "s2")])
    assert row[1] == "lms" and row[2] == f"{mean_lms:.3f}" and row[3] == f"{mean_ref:.3f}"
    assert row[4] == f"{100 * (1 - mean_lms / mean_ref):+.1f} %"
    assert row[6] == "—"


def test_plus_minus_only_with_several_seeds() -> None:
    one, _ = _results(seeds=(0,))
    tables = content.sequence_tables(one)
    assert tables and all("±" not in c for t in tables for r in t.rows for c in r)
    assert all("one seed" in t.note for t in tables)
    # headline in mm with the nRMSE beside, methods sorted by error (not by name)
    head = tables[0]
    assert head.title.startswith("s1: RMSE of marker positions (mm)")
    assert [r[0] for r in head.rows] == ["lms", "no-prediction", "zz-bad"]
    assert "(nRMSE " in head.rows[0][1]
    detail = tables[1]
    col = detail.header.index("guarded forecasts")
    assert [r[col] for r in detail.rows] == ["3", "-", "-"]  # a count; absent key: "-"
    two, rmse = _results(seeds=(0, 1))
    head2 = content.sequence_tables(two)[0]
    assert "mean ± std over 2 seeds" in head2.note
    assert head2.rows[0][1].startswith(f"{rmse['s1']['lms']:.3f} ± ")


def test_ssim_on_the_255_scale_is_not_a_report_column() -> None:
    cols = [k for k, _ in content.DETAIL_METRICS["image"]]
    assert "ssim_255" not in cols and "ssim_true_range" in cols


def test_run_statement_says_what_was_scored_and_searched() -> None:
    data, _ = _results()
    text = content.run_statement(data)
    assert "test window" in text
    assert "validation window for lms (3 settings)" in text
    assert "Nothing searched (one setting) for no-prediction, zz-bad" in text
    for j in data.jobs:
        j["result"]["scored_window"] = {"name": "samples 5-400: every sample predicted"}
        j["result"]["searched"] = {"what": "nothing: default settings"}
    text = content.run_statement(data)
    assert text == ("Errors are computed on samples 5-400: every sample predicted. "
                    "Searched: nothing: default settings.")
    assert "validation" not in text


def test_cycle_bootstrap_gain_numbers() -> None:
    t = np.arange(400)
    trace = np.sin(2 * np.pi * t / 25)
    e = np.full(400, 1.0)
    r = np.full(400, 4.0)
    # constant errors: every resample gives the same gain
    g, lo, hi = cycle_bootstrap_gain([(e, r, trace)], squared=True, n_boot=100)
    assert g == pytest.approx(50.0) and lo == pytest.approx(50.0) and hi == pytest.approx(50.0)
    g, _, _ = cycle_bootstrap_gain([(e, r, trace)], squared=False, n_boot=100)
    assert g == pytest.approx(75.0)
    # two sequences: 1 - mean(E) / mean(R)
    g, _, _ = cycle_bootstrap_gain([(e, r, trace), (3 * e, r, trace)], squared=False,
                                   n_boot=50)
    assert g == pytest.approx(100 * (1 - 2.0 / 4.0))
    rng = np.random.default_rng(1)
    noisy = rng.exponential(1.0, 400)
    g, lo, hi = cycle_bootstrap_gain([(noisy, r, trace)], squared=False, n_boot=500)
    assert lo < g < hi and g == pytest.approx(100 * (1 - noisy.mean() / 4.0))
    with pytest.raises(ValidationError):
        cycle_bootstrap_gain([(e, np.zeros(400), trace)], squared=False)
    with pytest.raises(ValidationError):
        cycle_bootstrap_gain([(e[:10], r, trace)], squared=False)
