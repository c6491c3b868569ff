"""Registration quality report (RMSE whole / ROI, CSV) and grid-search tuning."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.registration import (
    LKParams,
    quality_report,
    register_sequence,
    roi_from_bounds,
    tune_lk,
)
from motionpredict.sequences import ImageSequence

SHAPE = (64, 64)


def _sequence(synth, n=4, amplitude=3.0):
    f = synth.texture(SHAPE, seed=11)
    frames = [synth.deform(SHAPE, f, synth.smooth_field(SHAPE, amplitude * k / n))[1]
              for k in range(n)]
    return ImageSequence(np.stack(frames), spacing=(1.5, 1.5), times=0.25 * np.arange(n))


def test_quality_decreases_against_identity(synth, tmp_path):
    seq = _sequence(synth)
    fields = register_sequence(seq, params=LKParams(levels=2, iterations=3))
    roi = roi_from_bounds([(20, 40), (10, 50)], SHAPE)
    report = quality_report(seq, fields, roi=roi)
    assert report.rmse_identity[0] == 0.0 and report.rmse_registered[0] == 0.0
    assert np.all(report.rmse_registered[1:] < 0.3 * report.rmse_identity[1:])
    assert np.all(report.rmse_registered_roi[1:] < 0.3 * report.rmse_identity_roi[1:])
    summary = report.summary()
    assert summary["rmse_registered"] < summary["rmse_identity"]
    path = report.write_csv(tmp_path / "out" / "quality.csv")
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["frame"]) for r in rows] == [1, 2, 3, 4]
    assert float(rows[2]["rmse_registered_roi"]) == pytest.approx(
        report.rmse_registered_roi[2], rel=1e-5)
    assert float(rows[3]["time_s"]) == pytest.approx(0.75)
    assert not list((tmp_path / "out").glob(".*"))  # no temporary file left behind


def test_roi_bounds_and_errors(synth):
    mask = roi_from_bounds([(2, 3), (1, 4)], (5, 6))
    assert mask.sum() == 8 and mask[1, 0] and not mask[0, 0]
    with pytest.raises(ValidationError, match="outside"):
        roi_from_bounds([(0, 3), (1, 4)], (5, 6))
    with pytest.raises(ValidationError, match="pairs"):
        roi_from_bounds([(1, 3)], (5, 6))
    seq = _sequence(synth, n=2)
    fields = register_sequence(seq, method="farneback")
    with pytest.raises(ValidationError, match="empty"):
        quality_report(seq, fields, roi=np.zeros(SHAPE, bool))


def test_tuning_prefers_settings_that_reach_the_motion(synth):
    seq = _sequence(synth, n=3, amplitude=9.0)
    grid = {"levels": (1, 3), "iterations": (1, 3)}
    result = tune_lk(seq, train=[0, 1, 2], grid=grid, base=LKParams(sigma_lk=2.0))
    assert len(result.table) == 4 and result.frames == [1, 2]
    assert (result.best.levels, result.best.iterations) == (3, 3)
    scores = dict(((row["levels"], row["iterations"]), s) for row, s in result.table)
    assert scores[(3, 3)] < scores[(1, 1)]
    assert result.best_rmse == pytest.approx(scores[(3, 3)])


def test_tuning_errors(synth):
    seq = _sequence(synth, n=2)
    with pytest.raises(ConfigurationError, match="grid"):
        tune_lk(seq, grid={"window": (1, 2)})
    with pytest.raises(ValidationError, match="training"):
        tune_lk(seq, train=[0])
