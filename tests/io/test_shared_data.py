"""Acceptance numbers of issue 3 on the real reference data (skipped when it is absent)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from motionpredict.cli.main import main
from motionpredict.errors import MissingMetadataError
from motionpredict.io import load

pytestmark = pytest.mark.shared_data


def _info_json(capsys, *argv):
    assert main(["info", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_eth1(shared_data, capsys):
    d = _info_json(capsys, str(shared_data / "cine_mri" / "eth-1"))
    assert d["n_frames"] == 200 and d["shape"] == [270, 270]
    assert d["frame_period_s"] == pytest.approx(0.314) and d["frame_period_source"] == "sidecar"
    assert d["spacing_mm"] == [1.0, 1.0] and d["spacing_source"] == "convention"
    assert d["ordering"] == "file-name-number" and d["raw_range"] == [0, 255]


def test_ovgu_ks81(shared_data, capsys):
    d = _info_json(capsys, str(shared_data / "cine_mri" / "ovgu-ks81"))
    assert d["n_frames"] == 498 and d["shape"] == [176, 140]
    assert d["spacing_mm"] == pytest.approx([1.818, 1.818], abs=1e-3)
    assert d["spacing_source"] == "header"
    assert d["frame_period_s"] == pytest.approx(0.1675, abs=1e-6)
    assert d["frame_period_source"] == "acquisition-times"
    assert d["ordering"] == "AcquisitionDateTime" and d["raw_range"] == [0, 4095]


def test_ovgu_frames_follow_file_numbers(shared_data):
    import pydicom

    seq = load(shared_data / "cine_mri" / "ovgu-ks81")
    f10 = pydicom.dcmread(shared_data / "cine_mri" / "ovgu-ks81" / "image10.IMA").pixel_array
    np.testing.assert_array_equal(seq.frames[9], f10)


def test_ct4d_117(shared_data, capsys):
    d = _info_json(capsys, str(shared_data / "ct4d" / "ct4d-117"))
    assert d["n_frames"] == 10 and d["kind"] == "volumes-3d" and d["shape"] == [96, 79, 81]
    assert d["spacing_mm"] is None and d["frame_period_s"] is None
    with pytest.raises(MissingMetadataError, match="--spacing"):
        load(shared_data / "ct4d" / "ct4d-117")
    seq = load(shared_data / "ct4d" / "ct4d-117", spacing_mm=1.0, frame_period_s=0.4)
    assert seq.frames.shape == (10, 96, 79, 81) and seq.provenance.spacing_source == "option"


def test_markers_1(shared_data, capsys):
    d = _info_json(capsys, str(shared_data / "markers" / "markers-1"))
    assert d["n_points"] == 3 and d["n_samples"] == 2220
    assert d["rate_hz"] == pytest.approx(10.0) and d["names"] == ["LAC", "UAC", "UCC"]
    traj = load(shared_data / "markers" / "markers-1")
    assert traj.positions[0, 0].tolist() == [-490.7, 4.1, 64.7]
    assert np.all(traj.positions[-1] != 0)
