"""The viewer registers with the sequence's sidecar LK parameters, as `predict` does (#16/#19)."""

from __future__ import annotations

import json
from pathlib import Path

from motionpredict.io import load
from motionpredict.phantom import make_cine
from motionpredict.registration import LKParams
from motionpredict.viewer_model import default_pipeline_factory


def _phantom_folder(tmp_path: Path, sidecar: dict | None) -> Path:
    from motionpredict.cli.main import main

    out = tmp_path / "seq"
    assert main(["phantom", "--out", str(out), "--frames", "12", "--seed", "2"]) == 0
    folder = out / "dicom"
    if sidecar is not None:
        (folder / "sequence.json").write_text(json.dumps(sidecar))
    return folder


def test_sidecar_lk_parameters_reach_the_viewer_pipeline(tmp_path: Path) -> None:
    lk = {"levels": 2, "iterations": 3, "sigma_lk": 2.5}
    seq = load(_phantom_folder(tmp_path, {"reference_lk_parameters": lk}))
    pipe = default_pipeline_factory(seq, method="no-prediction", horizon_s=0.5, train_frames=6)
    params = pipe._lk()  # type: ignore[attr-defined]
    assert params == LKParams.from_mapping(lk)
    assert params != LKParams()


def test_without_sidecar_the_defaults_are_used(tmp_path: Path) -> None:
    seq = make_cine(n_frames=12, seed=2).sequence
    pipe = default_pipeline_factory(seq, method="no-prediction", horizon_s=0.5, train_frames=6)
    assert pipe._lk() == LKParams()  # type: ignore[attr-defined]
