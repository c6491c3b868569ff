"""``motionpredict predict`` answers the question; horizons are labelled by the one used.

Issue 14 (items 2 and 5): the last line printed is the answer (method, mode, horizon in s and
samples, RMSE on the named scored window, no prediction's RMSE on the same window, the ratio),
metrics.json holds the same numbers, a ratio above 1 prints a warning, evaluation jobs and tables
are labelled by the horizon actually used, and the error that refuses an inexact horizon names the
options that round it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from motionpredict.cli.main import main
from motionpredict.errors import ConfigurationError
from motionpredict.units import Horizon

ANSWER = re.compile(
    r"^answer: (?P<method>\S+) \((?P<mode>\w+)\), horizon (?P<hs>[\d.]+) s \((?P<steps>\d+) "
    r"(?P<unit>samples|frames) of (?P<period>[\d.]+) s\).*: RMSE (?P<rmse>[\d.]+) mm.* on "
    r"(?P<window>.+); no prediction (?P<ref>[\d.]+) mm on the same (samples|frames); "
    r"ratio (?P<ratio>[\d.]+)$"
)


@pytest.fixture(scope="module")
def markers(tmp_path_factory) -> Path:
    """A 40 s, 10 Hz phantom marker CSV with a sidecar stating train/validation/test windows."""
    folder = tmp_path_factory.mktemp("markers")
    assert main(["phantom", "--kind", "markers", "--frames", "400", "--out",
                 str(folder / "seq")]) == 0
    (folder / "seq" / "sequence.json").write_text(json.dumps({
        "name": "phantom-markers",
        "splits": {"train": [1, 100], "cv": [101, 200], "test": [201, 400]}}))
    return folder / "seq" / "markers.csv"


def _predict(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    rc = main(["predict", *args])
    out = capsys.readouterr().out.strip().splitlines()
    return rc, out


def test_default_method_answer_line_equals_metrics_json(markers: Path, tmp_path: Path,
                                                        capsys) -> None:
    from motionpredict.evaluation.metrics import marker_metrics
    from motionpredict.io import load

    out = tmp_path / "run"
    rc, lines = _predict([str(markers), "--horizon", "0.5s", "--out", str(out), "--no-report"],
                         capsys)
    assert rc == 0
    m = ANSWER.match(lines[-1])
    assert m is not None, lines[-1]
    doc = json.loads((out / "metrics.json").read_text())
    met = doc["metrics"]
    # the default method is the aggregator, and it is better than no prediction here
    assert m["method"] == doc["method"] == "aggregator" and m["mode"] == "causal"
    assert (int(m["steps"]), m["unit"]) == (5, "samples")
    assert float(m["hs"]) == pytest.approx(0.5) and float(m["period"]) == pytest.approx(0.1)
    assert doc["horizon"]["steps"] == 5 and doc["horizon"]["seconds"] == pytest.approx(0.5)
    for key, name in (("rmse", "rmse_mm"), ("ref", "no_prediction_rmse_mm"),
                      ("ratio", "relative_rmse")):
        assert float(m[key]) == pytest.approx(met[name], abs=6e-5)
    assert met["relative_rmse"] == pytest.approx(met["rmse_mm"] / met["no_prediction_rmse_mm"])
    assert met["relative_rmse"] < 1 and not any(ln.startswith("WARNING") for ln in lines)
    assert doc["warning"] is None and doc["answer"] == lines[-1]
    # the scored window is the sidecar's test window (samples 201-400), named in the line
    sw = doc["scored_window"]
    assert (sw["first"], sw["last"], sw["split"], sw["source"]) == (201, 400, "test", "sidecar")
    assert "test samples 201-400" in m["window"] and met["n_scored"] == 200
    assert doc["searched"]["settings_tried"] == 1 and doc["searched"]["validation_window"] is None
    # independent reference: repeating the sample 5 steps before each scored target
    y = load(markers).as_series()
    t = np.arange(200, 400)
    ref = marker_metrics(y[t - 5], y[t])["rmse_mm"]
    assert met["no_prediction_rmse_mm"] == pytest.approx(ref, rel=1e-12)
    pos = np.loadtxt(out / "positions.csv", delimiter=",", skiprows=1)
    assert pos[0, 0] == 201 and pos[-1, 0] == 400  # 1-based sample numbers
    pred = pos[:, 3 + y.shape[1]:]
    assert met["rmse_mm"] == pytest.approx(marker_metrics(pred, y[t])["rmse_mm"], rel=1e-9)


def test_ratio_above_one_prints_a_warning_before_the_answer(markers: Path, tmp_path: Path,
                                                            capsys) -> None:
    """LMS with a harmful step (eta 0.5) in reference mode (only bounded, not guarded) is worse
    than no prediction."""
    out = tmp_path / "bad"
    rc, lines = _predict([str(markers), "--method", "lms", "--param", "eta=0.5", "--mode",
                          "reference", "--horizon", "5steps", "--out", str(out), "--no-report"],
                         capsys)
    assert rc == 0
    doc = json.loads((out / "metrics.json").read_text())
    ratio = doc["metrics"]["relative_rmse"]
    assert ratio > 1
    m = ANSWER.match(lines[-1])
    assert m is not None and m["mode"] == "reference"
    assert float(m["ratio"]) == pytest.approx(ratio, rel=1e-3)
    assert lines[-2].startswith("WARNING: lms is worse than no prediction")
    assert f"{ratio:.2f} times" in lines[-2] and doc["warning"] == lines[-2]


def test_warning_exactly_when_the_ratio_exceeds_one() -> None:
    from motionpredict.cli.predict import answer_lines

    window = {"name": "test samples 201-400 (the sidecar's test window)"}
    h = Horizon(5, 0.1, 0.5)
    for rmse, warned in ((2.0, False), (2.002, True), (1.0, False)):
        met = {"rmse_mm": rmse, "no_prediction_rmse_mm": 2.0, "relative_rmse": rmse / 2.0}
        lines = answer_lines("lms", "causal", h, met, window, False, False)
        assert len(lines) == 1 + warned
        m = ANSWER.match(lines[-1])
        assert m is not None and float(m["ratio"]) == pytest.approx(rmse / 2.0, abs=6e-5)
        assert float(m["rmse"]) == pytest.approx(rmse) and float(m["ref"]) == 2.0


def test_no_prediction_on_cine_has_ratio_one(tmp_path: Path, capsys) -> None:
    """The cine reference is what method no-prediction predicts, on the same frames."""
    assert main(["phantom", "--kind", "cine", "--frames", "40", "--format", "mha", "--out",
                 str(tmp_path / "cine")]) == 0
    capsys.readouterr()
    out = tmp_path / "run"
    rc, lines = _predict([str(tmp_path / "cine" / "cine.mha"), "--method", "no-prediction",
                          "--horizon", "2steps", "--out", str(out), "--no-report"], capsys)
    assert rc == 0
    doc = json.loads((out / "metrics.json").read_text())
    met = doc["metrics"]
    assert met["rmse_mm"] > 0.1  # the phantom moves
    assert met["relative_rmse"] == pytest.approx(1.0, abs=1e-12)
    assert met["rmse_mm"] == pytest.approx(met["no_prediction_rmse_mm"], rel=1e-12)
    # the RMSE is at least the mean error (same pixels and frames, RMS >= mean)
    assert met["rmse_mm"] >= met["dvf_mean_mm"] - 1e-9
    m = ANSWER.match(lines[-1])
    assert m is not None and m["unit"] == "frames" and int(m["steps"]) == 2
    assert "displacement field vs Lucas-Kanade, every pixel" in lines[-1]
    # no sidecar: every predicted frame is scored (18 training frames + 2 -> frames 21-40)
    sw = doc["scored_window"]
    assert (sw["first"], sw["last"], sw["split"]) == (21, 40, "all predicted")
    assert "every frame predicted after the 18 training frames" in lines[-1]
    assert "Lucas-Kanade" in doc["rmse_definition"]


def test_inexact_horizon_error_names_the_rounding_options(markers: Path, tmp_path: Path,
                                                          capsys) -> None:
    rc = main(["predict", str(markers), "--method", "no-prediction", "--horizon", "0.25s",
               "--out", str(tmp_path / "x"), "--no-report"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "--round-horizon" in err[0] and "round_horizons = true" in err[0]
    assert "2.500 frame periods" in err[0]
    # with the option, 0.25 s is rounded (to 2 samples, 0.2 s) and labelled as such
    out = tmp_path / "rounded"
    rc, lines = _predict([str(markers), "--method", "no-prediction", "--horizon", "0.25s",
                          "--round-horizon", "--out", str(out), "--no-report"], capsys)
    assert rc == 0
    h = json.loads((out / "metrics.json").read_text())["horizon"]
    assert (h["steps"], h["requested_s"]) == (2, 0.25)
    assert h["seconds"] == pytest.approx(0.2)
    assert "horizon 0.2 s (2 samples of 0.1 s), requested 0.25 s" in lines[-1]


def test_horizon_type() -> None:
    h = Horizon.from_seconds(0.6, 0.314, rounded=True)
    assert (h.steps, h.requested_s, h.rounded) == (2, 0.6, True)
    assert h.seconds == pytest.approx(0.628)
    assert Horizon.from_text("600ms", 0.1).steps == 6
    assert Horizon.from_text("3steps", 0.314).seconds == pytest.approx(0.942)
    assert not Horizon.from_seconds(0.5, 0.1).rounded
    with pytest.raises(ConfigurationError, match="round_horizons = true"):
        Horizon.from_seconds(0.5, 0.314)
    for bad in ((0, 0.1), (2, 0.0), (2, float("nan"))):
        with pytest.raises(ConfigurationError):
            Horizon(*bad)


MIXED = """
[run]
jobs = 1

[[sequences]]
phantom = "markers"
seed = 1
duration_s = 30.0
rate_hz = 10.0
splits = {{ train = [1, 100], cv = [101, 200], test = [201, 300] }}

[[sequences]]
phantom = "markers"
name = "slow"
seed = 2
duration_s = 60.0
rate_hz = {slow_hz}
splits = {{ train = [1, 60], cv = [61, 120], test = [121, 188] }}

[evaluation]
methods = ["no-prediction"]
horizons_s = [0.5, 0.6, 1.0]
round_horizons = {round}
"""


def test_mixed_periods_are_grouped_by_the_horizon_used(tmp_path: Path) -> None:
    """A 10 Hz and a 3.14 Hz (0.3185 s) series with horizons 0.5, 0.6 and 1.0 s rounded: the
    slow series' jobs are labelled 0.637 s (2 periods: 0.5 and 0.6 s both round there, one job)
    and 0.955 s (3 periods), never 0.5 s or 1.0 s."""
    from motionpredict.evaluation.batch import run_evaluation
    from motionpredict.evaluation.config import load_config
    from motionpredict.evaluation.store import ResultStore
    from motionpredict.evaluation.tables import job_rows, summary_rows

    slow_hz = 3.14
    period = 1 / slow_hz
    cfg_path = tmp_path / "mixed.toml"
    cfg_path.write_text(MIXED.format(slow_hz=slow_hz, round="false"))
    with pytest.raises(ConfigurationError, match=r"sequence slow: .*round_horizons = true"):
        run_evaluation(load_config(cfg_path), tmp_path / "refused", progress=False)
    cfg_path.write_text(MIXED.format(slow_hz=slow_hz, round="true"))
    summary = run_evaluation(load_config(cfg_path), tmp_path / "run", progress=False)
    assert summary.errors == 0 and summary.total == 5  # 3 fast + 2 slow (0.5 and 0.6 s merge)
    with ResultStore(tmp_path / "run") as st:
        stored = list(st.rows())
    rows = job_rows(stored)
    slow = sorted((r["horizon_steps"], r["horizon_s"], r["requested_horizon_s"])
                  for r in rows if r["sequence"] == "slow")
    assert [s[0] for s in slow] == [2, 3]
    assert slow[0][1] == pytest.approx(2 * period, abs=1e-9)
    assert slow[1][1] == pytest.approx(3 * period, abs=1e-9)
    assert [s[2] for s in slow] == [0.5, 1.0]
    fast = sorted((r["horizon_steps"], r["horizon_s"]) for r in rows if r["sequence"] != "slow")
    assert fast == [(5, pytest.approx(0.5)), (6, pytest.approx(0.6)), (10, pytest.approx(1.0))]
    groups = {(r["sequence"], round(r["horizon_s"], 3)) for r in summary_rows(rows)}
    assert ("slow", 0.5) not in groups and ("slow", 1.0) not in groups
    assert {("slow", 0.637), ("slow", 0.955)} <= groups
    for r in stored:  # every stored job carries the actual and the requested horizon
        s = r["spec"]
        assert s["horizon_s"] == pytest.approx(s["horizon_steps"] * s["period_s"], abs=1e-9)
        assert "requested_horizon_s" in s
