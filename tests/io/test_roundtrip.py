"""Round trips ImageSequence -> DICOM / MHA / NIfTI / .seq.nrrd -> load, fields and points."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from io_helpers import cine, volumes

from motionpredict.errors import ValidationError
from motionpredict.io import (
    atomic_path,
    load,
    read_fields,
    write_dicom_series,
    write_fields,
    write_image,
    write_points_csv,
)
from motionpredict.sequences import DisplacementFieldSeries, PointTrajectories


def _same(a, b, atol=0.0):
    assert a.frames.shape == b.frames.shape
    np.testing.assert_allclose(b.frames, a.frames, atol=atol, rtol=0)
    np.testing.assert_allclose(b.spacing, a.spacing, rtol=1e-9)
    np.testing.assert_allclose(b.times - b.times[0], a.times - a.times[0], atol=1e-6)


@pytest.mark.parametrize("ext", [".mha", ".nii", ".nii.gz", ".seq.nrrd"])
@pytest.mark.parametrize("make", [cine, volumes])
def test_image_files_round_trip(tmp_path, ext, make):
    seq = make()
    path = write_image(seq, tmp_path / f"seq{ext}")
    back = load(path)
    _same(seq, back)
    assert back.provenance.frame_period_source == "header"
    assert back.provenance.spacing_source == "header"
    np.testing.assert_allclose(back.origin, seq.origin, atol=1e-6)
    np.testing.assert_allclose(back.direction, seq.direction, atol=1e-9)


def test_mha_keeps_irregular_times_nifti_refuses(tmp_path):
    seq = cine()
    seq.times = np.array([0.0, 0.2, 0.45, 0.7, 0.9, 1.3])
    back = load(write_image(seq, tmp_path / "irr.mha"))
    np.testing.assert_allclose(back.times, seq.times, atol=1e-9)
    with pytest.raises(ValidationError, match="irregular"):
        write_image(seq, tmp_path / "irr.nii.gz")
    assert not list(tmp_path.glob("*.nii.gz")) and not list(tmp_path.glob(".*"))


def test_dicom_round_trip_2d_integer_exact(tmp_path):
    seq = cine()
    files = write_dicom_series(seq, tmp_path / "out", description="test, horizon 0.5 s")
    assert len(files) == seq.n_frames
    back = load(tmp_path / "out")
    _same(seq, back)
    assert back.provenance.ordering == "TemporalPositionIdentifier"
    assert back.provenance.frame_period_source == "acquisition-times"
    ds = pydicom.dcmread(files[0])
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
    assert "horizon 0.5 s" in ds.DerivationDescription
    assert len({pydicom.dcmread(f).SOPInstanceUID for f in files}) == len(files)


def test_dicom_round_trip_float_within_quantisation(tmp_path):
    seq = cine(integer=False)
    seq.frames = seq.frames / 1000.0 - 0.3  # -0.3 .. 0.7, non-integer
    write_dicom_series(seq, tmp_path / "f", description="float")
    back = load(tmp_path / "f")
    step = (seq.frames.max() - seq.frames.min()) / 65535
    _same(seq, back, atol=0.51 * step + 1e-7)


def test_dicom_round_trip_3d_geometry(tmp_path):
    seq = volumes()
    files = write_dicom_series(seq, tmp_path / "v", description="phases")
    assert len(files) == seq.n_frames
    back = load(tmp_path / "v")
    _same(seq, back)
    np.testing.assert_allclose(back.origin, seq.origin, atol=1e-5)
    np.testing.assert_allclose(back.direction, seq.direction, atol=1e-6)


def test_derived_series_references_source_and_copies_geometry(tmp_path):
    seq = cine()
    write_dicom_series(seq, tmp_path / "src", description="source", keep_identifiers=True)
    src = load(tmp_path / "src")
    files = write_dicom_series(
        src, tmp_path / "pred", description="lms h=2", source=src, keep_identifiers=True
    )
    s0 = pydicom.dcmread(tmp_path / "src" / "frame0001.dcm")
    d0 = pydicom.dcmread(files[0])
    assert d0.SeriesInstanceUID != s0.SeriesInstanceUID
    assert d0.ReferencedSeriesSequence[0].SeriesInstanceUID == s0.SeriesInstanceUID
    assert d0.StudyInstanceUID == s0.StudyInstanceUID
    assert d0.FrameOfReferenceUID == s0.FrameOfReferenceUID
    assert list(d0.ImageOrientationPatient) == list(s0.ImageOrientationPatient)
    assert list(d0.PixelSpacing) == list(s0.PixelSpacing)


def test_fields_round_trip_lps_components(tmp_path):
    rng = np.random.default_rng(0)
    f = rng.normal(size=(3, 5, 4, 2))
    d = np.array([[0.0, 1.0], [1.0, 0.0]])  # rows run along x, columns along y
    fs = DisplacementFieldSeries(fields=f, spacing=(1.5, 2.0), times=[0, 0.25, 0.5], direction=d)
    write_fields(fs, tmp_path / "u.mha")
    back = read_fields(tmp_path / "u.mha")
    np.testing.assert_allclose(back.fields, f, atol=1e-5)
    np.testing.assert_allclose(back.times, fs.times)
    # LPS components stored: x = D @ u reversed -> with this D, x equals the row component
    import SimpleITK as sitk

    raw = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "u.mha")))
    np.testing.assert_allclose(raw[..., 0], f[..., 0], atol=1e-5)
    one = DisplacementFieldSeries(fields=f[:1], spacing=(1.5, 2.0), times=[0.0])
    write_fields(one, tmp_path / "u1.mha")
    img = sitk.ReadImage(str(tmp_path / "u1.mha"))
    assert img.GetDimension() == 2 and img.GetNumberOfComponentsPerPixel() == 2


def test_points_csv_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    tr = PointTrajectories(
        positions=rng.normal(size=(7, 2, 3)), times=np.arange(7) * 0.1, names=("LAC", "UAC")
    )
    back = load(write_points_csv(tr, tmp_path / "p.csv"))
    np.testing.assert_array_equal(back.positions, tr.positions)
    np.testing.assert_array_equal(back.times, tr.times)
    assert back.names == ("LAC", "UAC")


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "a.mha"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mha"]
    with atomic_path(target) as tmp:
        assert tmp.name.endswith(".mha") and tmp.parent == tmp_path
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_interrupted_dicom_export_leaves_no_series(tmp_path, monkeypatch):
    import motionpredict.io.write_dicom as wd

    calls = {"n": 0}
    real = wd.deidentify

    def failing(ds, uids):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(ds, uids)

    monkeypatch.setattr(wd, "deidentify", failing)
    with pytest.raises(KeyboardInterrupt):
        write_dicom_series(cine(), tmp_path / "out", description="x")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(wd, "deidentify", real)
    files = write_dicom_series(cine(), tmp_path / "out", description="x")
    assert [f.parent for f in files] == [tmp_path / "out"] * 6 and all(f.exists() for f in files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
