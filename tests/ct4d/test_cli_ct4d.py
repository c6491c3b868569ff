"""``motionpredict predict`` on 4DCT phases (tiny phantom written to disk with a sidecar)."""

from __future__ import annotations

import json

import numpy as np

from motionpredict.cli.main import main
from motionpredict.io import load, write_image


def test_predict_accepts_4dct_phases(tiny_ct, tmp_path, capsys):
    data = tmp_path / "case"
    data.mkdir()
    write_image(tiny_ct.sequence, data / "phases.mha")
    roi = {"x": [10, 22], "y": [8, 20], "z": [4, 14]}  # 1-based x = col, y = row, z = slice
    (data / "sequence.json").write_text(json.dumps({"kind": "ct4d-phases", "roi": roi}))
    out = tmp_path / "out"
    status = main(["predict", str(data / "phases.mha"), "--method", "linear", "--horizon",
                   "2steps", "--frame-period", "0.4", "--out", str(out), "--param", "k=6"])
    assert status == 0
    printed = capsys.readouterr().out.split()
    assert {p.rsplit("/", 1)[-1] for p in printed} == {
        "positions.csv", "predicted_volumes.mha", "actual_volumes.mha", "metrics.json"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["kind"] == "ct4d" and metrics["horizon_steps"] == 2
    period = load(data / "phases.mha").frame_period  # the file's own times win over the option
    assert abs(metrics["horizon_s"] - 2 * period) < 1e-9
    assert abs(metrics["series"]["rate_hz"] - 1 / period) < 1e-9
    pm = metrics["point_metrics"]
    assert 0 <= pm["rmse_mm"] <= pm["max_mm"]
    assert metrics["volume_metrics"]["pearson_mean"] > 0.8
    pred = load(out / "predicted_volumes.mha", frame_period_s=1.0)
    assert pred.frames.shape == (5, *tiny_ct.sequence.shape)
    np.testing.assert_allclose(pred.spacing, tiny_ct.sequence.spacing)
    rows = (out / "positions.csv").read_text().splitlines()
    n = int(np.floor(300.0 / period + 1e-9))  # 300 s series, one third for training
    assert len(rows) == 1 + n - round(n / 3)


def test_predict_4dct_without_roi_is_a_one_line_error(tiny_ct, tmp_path, capsys):
    data = tmp_path / "case"
    data.mkdir()
    write_image(tiny_ct.sequence, data / "phases.mha")
    (data / "sequence.json").write_text(json.dumps({"kind": "ct4d-phases"}))
    status = main(["predict", str(data / "phases.mha"), "--method", "lms", "--horizon", "0.4s",
                   "--frame-period", "0.4", "--out", str(tmp_path / "o")])
    assert status == 2
    assert "tumour ROI" in capsys.readouterr().err
