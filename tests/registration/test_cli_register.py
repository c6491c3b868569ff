"""``motionpredict register``: files written, numbers consistent with the API, user errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from motionpredict.cli.main import main
from motionpredict.io import read_fields, write_image
from motionpredict.registration import LKParams, register_sequence
from motionpredict.sequences import ImageSequence

SHAPE = (48, 56)


@pytest.fixture
def cine(synth, tmp_path):
    f = synth.texture(SHAPE, seed=31)
    frames = [synth.deform(SHAPE, f, synth.translation((0.8 * k, -0.5 * k)))[1] for k in range(4)]
    seq = ImageSequence(np.stack(frames), spacing=(2.0, 1.5), times=0.3 * np.arange(4))
    path = tmp_path / "cine.mha"
    write_image(seq, path)
    return seq, path


def test_register_writes_fields_quality_and_summary(cine, tmp_path, capsys):
    seq, path = cine
    lk_json = tmp_path / "sequence.json"
    lk_json.write_text(json.dumps({"reference_lk_parameters": {
        "sigma_init": 0.1, "sigma_subsample": 1, "sigma_lk": 2, "pyramid_levels": 2,
        "iterations": 2}}))
    out = tmp_path / "out"
    rc = main(["register", str(path), "--out", str(out), "--lk-params", str(lk_json),
               "--iterations", "3", "--roi", "10:40,5:50"])
    assert rc == 0
    assert "registered 4 frames" in capsys.readouterr().out
    fields = read_fields(out / "fields.mha")
    # a sequence.json gives the plain reference algorithm (no eigenvalue floor, no fill-in)
    expected = register_sequence(seq, params=LKParams(
        sigma_init=0.1, sigma_subsample=1.0, sigma_lk=2.0, levels=2, iterations=3,
        min_eigenvalue=0.0, fill_sigma=0.0))
    assert fields.fields.shape == (4, *SHAPE, 2)
    np.testing.assert_allclose(fields.fields, expected.fields, atol=1e-4)
    inner = fields.fields[3, 8:-8, 8:-8].reshape(-1, 2).mean(0)
    np.testing.assert_allclose(inner, [2.4 * 2.0, -1.5 * 1.5], atol=0.2)  # mm
    with (out / "quality.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and "rmse_registered_roi" in rows[0]
    assert all(float(r["rmse_registered"]) < 0.5 * float(r["rmse_identity"]) for r in rows[1:])
    summary = json.loads((out / "registration.json").read_text())
    assert summary["lk_params"]["iterations"] == 3 and summary["lk_params"]["levels"] == 2


def test_register_tune_and_baseline(cine, tmp_path):
    _, path = cine
    out = tmp_path / "tuned"
    rc = main(["register", str(path), "--out", str(out), "--tune", "--train", "1:3",
               "--tune-max-frames", "2", "--sigma-lk", "2", "--sigma-init", "0.5",
               "--sigma-subsample", "1", "--reference", "2"])
    assert rc == 0
    summary = json.loads((out / "registration.json").read_text())
    assert len(summary["tuning"]["table"]) == 324  # the full reference grid
    assert summary["tuning"]["frames"] == [0, 2]
    assert read_fields(out / "fields.mha").reference_index == 1
    assert main(["register", str(path), "--out", str(tmp_path / "d"), "--method", "dis"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["--reference", "9"], "outside 1..4"),
    (["--method", "dis", "--sigma-lk", "2"], "do not apply"),
    (["--roi", "1-3"], "FIRST:LAST"),
    (["--lk-params", "missing.json"], "cannot read"),
])
def test_register_user_errors(cine, tmp_path, capsys, argv, message):
    _, path = cine
    rc = main(["register", str(path), "--out", str(tmp_path / "x"), *argv])
    assert rc == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
