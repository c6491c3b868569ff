"""Acceptance: phantom -> DICOM / MHA / NIfTI / .seq.nrrd -> load: same values, spacing, times."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.io import load, write_dicom_series, write_image, write_points_csv

phantom = pytest.importorskip("motionpredict.phantom")


@pytest.fixture(scope="module")
def small_phantoms():
    cine = phantom.make_cine(seed=2, n_frames=4, shape=(24, 20), spacing_mm=(1.5, 2.5))
    ct = phantom.make_ct4d(seed=2, n_phases=3, shape=(8, 16, 16), spacing_mm=(3.0, 2.0, 2.0))
    return {"cine": cine.sequence, "ct4d": ct.sequence}


@pytest.mark.parametrize("kind", ["cine", "ct4d"])
@pytest.mark.parametrize("fmt", ["dicom", ".mha", ".nii.gz", ".seq.nrrd"])
def test_phantom_round_trip(tmp_path, small_phantoms, kind, fmt):
    seq = small_phantoms[kind]
    if fmt == "dicom":
        write_dicom_series(seq, tmp_path / "d", description="phantom")
        back = load(tmp_path / "d")
        atol = 0.51 * (seq.frames.max() - seq.frames.min()) / 65535 + 1e-4  # 16-bit storage
    else:
        back = load(write_image(seq, tmp_path / f"p{fmt}"))
        atol = 0.0
    np.testing.assert_allclose(back.frames, seq.frames, atol=atol, rtol=0)
    np.testing.assert_allclose(back.spacing, seq.spacing, rtol=1e-9)
    np.testing.assert_allclose(back.times, seq.times - seq.times[0], atol=1e-6)


def test_phantom_markers_csv_round_trip(tmp_path):
    m = phantom.make_markers(seed=1, duration_s=3.0).sequence
    back = load(write_points_csv(m, tmp_path / "m.csv"))
    np.testing.assert_array_equal(back.positions, m.positions)
    np.testing.assert_array_equal(back.times, m.times)
    assert back.names == m.names
