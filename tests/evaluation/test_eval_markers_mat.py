"""Marker series from the published ``org_data`` .mat files in batch evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from motionpredict.errors import InputFileError, MissingMetadataError
from motionpredict.evaluation.batch import build_jobs, load_sequence, run_job
from motionpredict.evaluation.config import parse_config
from motionpredict.evaluation.markers_mat import read_org_data_mat


def _write(folder: Path, n: int = 240) -> np.ndarray:
    """A 3-marker org_data file (rows x1 x2 x3 y1 y2 y3 z1 z2 z3) + sidecar; returns (n, 3, 3)."""
    rng = np.random.default_rng(0)
    t = np.arange(n) * 0.3
    pos = np.empty((n, 3, 3))
    for i in range(3):  # marker i: distinct amplitude per coordinate so layout errors show
        for c in range(3):
            pos[:, i, c] = (1 + i + 3 * c) * np.sin(2 * np.pi * t / 4.0 + 0.3 * i)
    pos += 0.05 * rng.standard_normal(pos.shape)
    org = pos.transpose(2, 1, 0).reshape(9, n)
    scipy.io.savemat(folder / "resampled_3.33hz.mat", {"org_data": org})
    side = {"name": "mk", "markers": ["LAC", "UAC", "UCC"], "sampling_hz": 10.0,
            "splits": {"3.33hz": {"train": [1, 80], "cv": [81, 160], "test_from": 161,
                                  "offline_last_training_target": 140}},
            "horizons_s": [0.3, 0.6]}
    (folder / "sequence.json").write_text(json.dumps(side))
    return pos


def test_layout_names_period_and_sidecar_splits(tmp_path: Path) -> None:
    pos = _write(tmp_path)
    seq = load_sequence({"path": str(tmp_path / "resampled_3.33hz.mat"), "frame_period_s": 0.3})
    assert seq.name == "mk" and seq.data.names == ("LAC", "UAC", "UCC")
    np.testing.assert_array_equal(seq.data.positions, pos)
    assert seq.period_s == pytest.approx(0.3)
    # the 3.33 Hz entry of the sidecar, converted to 0-based half-open windows
    assert (seq.splits.train, seq.splits.validation, seq.splits.test) == ((0, 80), (80, 160),
                                                                          (160, 240))
    assert seq.splits.offline_fit_until == 140
    assert seq.data.provenance.frame_period_source == "option"


def test_period_is_required_and_bad_files_are_named(tmp_path: Path) -> None:
    _write(tmp_path)
    with pytest.raises(MissingMetadataError, match="frame_period_s"):
        load_sequence({"path": str(tmp_path / "resampled_3.33hz.mat")})
    bad = tmp_path / "bad.mat"
    scipy.io.savemat(bad, {"org_data": np.zeros((8, 10))})
    with pytest.raises(InputFileError, match=r"bad\.mat.*\(3 p, T\)"):
        read_org_data_mat(bad, frame_period_s=0.1)
    scipy.io.savemat(bad, {"other": np.zeros((9, 10))})
    with pytest.raises(InputFileError, match="no variable 'org_data'"):
        read_org_data_mat(bad, frame_period_s=0.1)
    (tmp_path / "text.mat").write_text("not matlab")
    with pytest.raises(InputFileError, match=r"text\.mat"):
        read_org_data_mat(tmp_path / "text.mat", frame_period_s=0.1)


def test_job_metrics_use_3d_marker_errors(tmp_path: Path) -> None:
    pos = _write(tmp_path)
    cfg = parse_config({"sequences": [{"path": str(tmp_path / "resampled_3.33hz.mat"),
                                       "frame_period_s": 0.3}],
                        "evaluation": {"methods": ["no-prediction"], "horizons_steps": [2]}},
                       base=tmp_path)
    (job,) = build_jobs(cfg, tmp_path)
    res = run_job(job, str(tmp_path))["result"]
    assert "error" not in res, res
    e = np.linalg.norm(pos[160:] - pos[158:-2], axis=2)  # (T_test, 3 markers), mm
    assert res["metrics"]["rmse_mm"] == pytest.approx(np.sqrt(np.mean(e**2)), rel=1e-12)
    assert res["metrics"]["max_mm"] == pytest.approx(e.max(), rel=1e-12)
    assert res["metrics"]["no_prediction_rmse_mm"] == pytest.approx(res["metrics"]["rmse_mm"])


@pytest.mark.shared_data
def test_published_10hz_file_equals_the_csv(shared_data: Path) -> None:
    folder = shared_data / "markers" / "markers-1"
    csv = load_sequence({"path": str(folder)}).data
    mat = load_sequence({"path": str(folder / "resampled_10hz.mat"), "frame_period_s": 0.1}).data
    assert mat.names == csv.names and mat.n_samples == csv.n_samples
    np.testing.assert_allclose(mat.positions, csv.positions - csv.positions[0], atol=1e-5)
