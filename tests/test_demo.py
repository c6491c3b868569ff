"""The demo's export / reload step and its evaluation configuration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from motionpredict.cli import demo
from motionpredict.cli.main import main
from motionpredict.io import load


def test_demo_exports_the_phantom_and_reads_it_back(tmp_path: Path) -> None:
    kw = demo._export_and_reload(tmp_path, seed=1, quick=True)
    seq = load(tmp_path / "phantom" / "cine-dicom")
    assert seq.n_frames == kw["cine"]["n_frames"]
    assert seq.spacing == pytest.approx(kw["cine"]["spacing_mm"])
    assert seq.frame_period == pytest.approx(kw["cine"]["frame_period_s"])
    assert seq.provenance.spacing_source == "header"
    markers = load(tmp_path / "phantom" / "markers" / "markers.csv")
    assert markers.n_points == 3
    assert np.isclose(markers.sample_period, 1 / kw["markers"]["rate_hz"])


def test_demo_configuration_is_valid_and_uses_whole_frame_horizons(tmp_path: Path) -> None:
    kw = demo._export_and_reload(tmp_path, seed=0, quick=True)
    cfg = demo._config(0, True, kw)
    assert set(cfg.methods) == set(demo.QUICK_METHODS)
    for spec in cfg.sequences:
        period = spec.get("frame_period_s") or 1.0 / spec["rate_hz"]
        steps = np.asarray(spec["horizons_s"]) / period
        np.testing.assert_allclose(steps, np.round(steps), atol=1e-9)


def test_demo_refuses_a_non_empty_output_folder(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("precious")
    assert main(["demo", "--out", str(tmp_path), "--quick"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "precious"
