"""``motionpredict evaluate`` on 4DCT phases: the ``ct4d`` job kind (tiny phantom, seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from motionpredict.ct4d import forecast_series
from motionpredict.evaluation.batch import ct4d_setup, load_sequence, run_evaluation
from motionpredict.evaluation.config import load_config
from motionpredict.evaluation.store import ResultStore
from motionpredict.evaluation.tables import job_rows
from motionpredict.io import write_image
from motionpredict.phantom import make_ct4d
from motionpredict.report import build_report

PHANTOM = """
[run]
jobs = 1

[[sequences]]
phantom = "ct4d"
seed = 0
n_frames = 10
shape = [16, 24, 24]
spacing_mm = [2.5, 2.0, 2.0]
duration_s = 40.0
rate_hz = 2.5
{extra}

[evaluation]
methods = ["no-prediction", "lms"]
horizons_s = [0.4, 0.8]
seeds = [0]
triplet_count = 2

[evaluation.grids.lms]
eta = [0.01, 0.05]
k = [4, 8]
"""


def _config(folder: Path, extra: str = "") -> Path:
    path = folder / "ct4d.toml"
    path.write_text(PHANTOM.format(extra=extra))
    return path


@pytest.fixture(scope="module")
def ct4d_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    folder = tmp_path_factory.mktemp("ct4d-eval")
    cfg = load_config(_config(folder))
    summary = run_evaluation(cfg, folder / "run", progress=False)
    assert (summary.total, summary.errors) == (4, 0)
    with ResultStore(folder / "run") as store:
        rows = list(store.rows())
    return folder / "run", rows


def test_jobs_are_ct4d_and_metrics_are_consistent(ct4d_run):
    _, rows = ct4d_run
    assert {r["spec"]["kind"] for r in rows} == {"ct4d"}
    by = {(r["spec"]["method"], r["spec"]["horizon_steps"]): r["result"] for r in rows}
    assert set(by) == {(m, h) for m in ("no-prediction", "lms") for h in (1, 2)}
    for (method, _), res in by.items():
        m = res["metrics"]
        # the series: 40 s at 2.5 Hz = 100 samples; test window from 160/300 of it
        assert res["splits"]["test"] == [53, 100] and m["n_test"] == 47
        assert abs(res["period_s"] - 0.4) < 1e-12
        assert 0 < m["rmse_mm"] <= m["max_mm"]
        assert -1 <= m["pearson_min"] <= m["pearson_mean"] <= 1 and m["nrmse_mean"] > 0
        assert m["n_volumes"] == 2 and m["field_error_mm"] >= 0
        assert m["forecast_ms"] > 0 and m["warp_ms"] > 0 and m["correspondence_ms"] > 0
        assert m["registration_s"] > 0
        assert res["chosen"]["correspondence"] == "nw"
        assert len(res["points_mm"]) == 3
        if method == "no-prediction":  # the last acquired position: exactly the baseline
            assert m["rmse_mm"] == pytest.approx(m["no_prediction_rmse_mm"], rel=1e-12)
        else:
            assert res["grid_size"] == 4
            assert res["chosen"]["params"]["eta"] in (0.01, 0.05)
    # a real forecaster beats holding the last position on a smooth breathing series
    assert by[("lms", 2)]["metrics"]["rmse_mm"] < by[("no-prediction", 2)]["metrics"]["rmse_mm"]
    # the horizon costs accuracy for the baseline
    assert (by[("no-prediction", 2)]["metrics"]["rmse_mm"]
            > by[("no-prediction", 1)]["metrics"]["rmse_mm"])


def test_stored_numbers_replay_with_the_core(ct4d_run):
    """The job's test RMSE and validation score are the core's numbers for the chosen setting."""
    run_dir, rows = ct4d_run
    r = next(r for r in rows if r["spec"]["method"] == "lms" and r["spec"]["horizon_steps"] == 2)
    seq = load_sequence(r["spec"]["sequence"])
    setup, _, lk = ct4d_setup({**r["spec"], "key": r["key"]}, seq, run_dir)
    assert lk == r["result"]["lk_params"]
    assert ct4d_setup({**r["spec"], "key": r["key"]}, seq, run_dir)[0] is setup  # cached
    y = setup.trajectories.as_series()
    res = r["result"]
    fc = forecast_series(y, 0.4, method="lms", horizon_s=0.8, train_samples=33,
                         params=res["chosen"]["params"], test_start=53)
    assert fc.point_errors()["rmse_mm"] == pytest.approx(res["metrics"]["rmse_mm"], rel=1e-9)
    assert fc.point_errors(slice(33, 53))["rmse_mm"] == pytest.approx(res["validation_score"],
                                                                      rel=1e-9)
    for params in ({"eta": 0.01, "k": 4}, {"eta": 0.05, "k": 8}):  # chosen = best on validation
        other = forecast_series(y, 0.4, method="lms", horizon_s=0.8, train_samples=33,
                                params=params, test_start=53)
        assert other.point_errors(slice(33, 53))["rmse_mm"] >= res["validation_score"] - 1e-12
    np.testing.assert_allclose(np.asarray(res["traces"]["true"]), y[33:100])


def test_results_table_and_report_show_ct4d(ct4d_run):
    run_dir, rows = ct4d_run
    table = job_rows(rows)
    assert all(t["kind"] == "ct4d" and "pearson_mean" in t for t in table)
    saved = [r["result"]["artifacts"] for r in rows if "artifacts" in r["result"]]
    assert len(saved) == 4  # one seed: every job saves its slices
    with np.load(run_dir / saved[0]) as a:
        assert a["triplet_acquired"].shape == (2, 24, 24) == a["triplet_predicted"].shape
        assert a["roi"].shape == (24, 24) and a["roi"].any()
    (html,) = build_report(run_dir)
    text = html.read_text()
    assert "RMSE of internal-point positions (mm)" in text and "ROI Pearson" in text


def test_phase_files_with_sidecar_are_ct4d(tmp_path):
    ct = make_ct4d(seed=1, shape=(16, 24, 24), spacing_mm=(2.5, 2.0, 2.0), noise_hu=5.0)
    case = tmp_path / "case"
    case.mkdir()
    write_image(ct.sequence, case / "phases.mha")
    roi = {"x": [8, 16], "y": [8, 16], "z": [5, 12]}
    (case / "sequence.json").write_text(json.dumps({"kind": "ct4d-phases", "roi": roi}))
    bad = tmp_path / "noroi"
    bad.mkdir()
    write_image(ct.sequence, bad / "phases.mha")
    (bad / "sequence.json").write_text(json.dumps({"kind": "ct4d-phases"}))
    period = ct.sequence.frame_period
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"""
[[sequences]]
path = "case/phases.mha"
duration_s = {60 * period}
[[sequences]]
path = "noroi/phases.mha"
[evaluation]
methods = ["linear"]
horizons_steps = [1]
""")
    summary = run_evaluation(load_config(cfg), tmp_path / "run", progress=False)
    assert (summary.total, summary.errors) == (1, 1)
    with ResultStore(tmp_path / "run") as store:
        rows = list(store.rows())
    ok = next(r for r in rows if r["spec"]["kind"] == "ct4d")
    failed = next(r for r in rows if r["spec"]["kind"] == "unreadable")
    assert "tumour ROI" in failed["result"]["error"]
    res = ok["result"]
    assert "error" not in res and res["splits"]["test"] == [32, 60]
    assert res["lk_params"]["iterations"] >= 1  # the phases were registered (LK defaults)
    assert res["metrics"]["rmse_mm"] > 0 and res["metrics"]["pearson_mean"] > 0.5


def test_test_window_must_reach_the_series_end(tmp_path):
    extra = 'splits = { train = [1, 30], cv = [31, 50], test = [51, 90] }'
    summary = run_evaluation(load_config(_config(tmp_path, extra)), tmp_path / "run",
                             progress=False)
    assert summary.errors == summary.total == 4
    with ResultStore(tmp_path / "run") as store:
        assert all("end of the breathing series" in r["result"]["error"] for r in store.rows())
