"""DICOM layouts beyond single-frame cine: multi-frame cine, phase series, compressed data."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from io_helpers import write_frame
from pydicom.dataset import Dataset
from pydicom.uid import RLELossless

from motionpredict.errors import InputFileError
from motionpredict.io import load


def _multiframe(path, stack, **attrs):
    write_frame(path, stack[0], **attrs)
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = stack.shape[0]
    ds.PixelData = stack.astype("<u2").tobytes()
    ds.save_as(path)
    return path


def test_multiframe_cine_with_frame_time(tmp_path):
    stack = np.arange(4 * 5 * 6).reshape(4, 5, 6) % 4000
    _multiframe(
        tmp_path / "cine.dcm",
        stack,
        FrameTime="125.0",
        FrameIncrementPointer=pydicom.tag.Tag("FrameTime"),
        PixelSpacing=[0.9, 1.1],
    )
    seq = load(tmp_path / "cine.dcm")
    np.testing.assert_array_equal(seq.frames, stack)
    np.testing.assert_allclose(seq.times, [0, 0.125, 0.25, 0.375])
    assert seq.provenance.frame_period_source == "header" and seq.spacing == (0.9, 1.1)


def test_multiframe_cine_with_frame_time_vector(tmp_path):
    stack = np.arange(3 * 4 * 4).reshape(3, 4, 4)
    _multiframe(
        tmp_path / "c.dcm",
        stack,
        FrameTimeVector=["0", "100", "150"],
        FrameIncrementPointer=pydicom.tag.Tag("FrameTimeVector"),
        PixelSpacing=[1, 1],
    )
    np.testing.assert_allclose(load(tmp_path / "c.dcm").times, [0, 0.1, 0.25])


def test_single_multiframe_volume_is_not_a_sequence(tmp_path):
    _multiframe(tmp_path / "v.dcm", np.zeros((3, 4, 4)), PixelSpacing=[1, 1])
    with pytest.raises(InputFileError, match="not a time series"):
        load(tmp_path / "v.dcm")


def _slice(path, value, z, series, desc, n):
    return write_frame(
        path,
        np.full((4, 5), value),
        series_uid=series,
        SeriesDescription=desc,
        ImagePositionPatient=[0, 0, z],
        ImageOrientationPatient=[1, 0, 0, 0, 1, 0],
        PixelSpacing=[0.8, 0.7],
        InstanceNumber=n,
    )


def test_one_series_of_slices_per_phase(tmp_path):
    # phases stored out of order; slices stored in reverse z order; 3 mm apart
    for phase in (20, 0, 10):
        for k in range(3):
            z = 12.0 - 3.0 * k
            _slice(
                tmp_path / f"p{phase}_s{k}.dcm",
                phase + z,
                z,
                f"1.9.{phase}",
                f"CT Gated, {phase}.0%",
                k + 1,
            )
    seq = load(tmp_path, frame_period_s=0.4)
    assert seq.frames.shape == (3, 3, 4, 5)
    assert seq.provenance.ordering == "SeriesDescription-percent"
    np.testing.assert_allclose(seq.frames[:, :, 0, 0], [[6, 9, 12], [16, 19, 22], [26, 29, 32]])
    assert seq.spacing == pytest.approx((3.0, 0.8, 0.7))
    assert seq.origin == pytest.approx((6.0, 0.0, 0.0))


def test_slices_of_one_volume_are_refused(tmp_path):
    for k in range(3):
        _slice(tmp_path / f"s{k}.dcm", k, 2.0 * k, "1.9", "CT", k + 1)
    with pytest.raises(InputFileError, match="slices of one 3D volume"):
        load(tmp_path, frame_period_s=0.4)


def test_compressed_pixels_decoded_by_pydicom(tmp_path):
    rng = np.random.default_rng(0)
    stack = rng.integers(0, 4000, size=(3, 6, 5)).astype(np.uint16)
    for i in range(3):
        p = write_frame(
            tmp_path / f"f{i + 1}.dcm",
            stack[i],
            PixelSpacing=[1, 1],
            TemporalPositionIdentifier=i + 1,
        )
        ds = pydicom.dcmread(p)
        ds.compress(RLELossless)
        ds.save_as(p)
    assert pydicom.dcmread(tmp_path / "f1.dcm").file_meta.TransferSyntaxUID == RLELossless
    seq = load(tmp_path, frame_period_s=0.2)
    np.testing.assert_array_equal(seq.frames, stack)


def test_rescale_slope_intercept_and_raw_range(tmp_path):
    raw = np.array([[0, 100], [200, 4095]], dtype=np.uint16)
    for i in range(2):
        write_frame(
            tmp_path / f"f{i}.dcm",
            raw,
            RescaleSlope="2",
            RescaleIntercept="-1024",
            PixelSpacing=[1, 1],
            TemporalPositionIdentifier=i + 1,
        )
    seq = load(tmp_path, frame_period_s=0.5)
    np.testing.assert_array_equal(seq.frames[0], raw * 2.0 - 1024)
    assert seq.provenance.raw_range == (0.0, 4095.0)
    assert seq.provenance.extra["rescaled_range"] == (-1024.0, 7166.0)


def test_enhanced_functional_groups_spacing(tmp_path):
    stack = np.arange(2 * 4 * 4).reshape(2, 4, 4)
    p = _multiframe(tmp_path / "e.dcm", stack)
    ds = pydicom.dcmread(p)
    shared, pm, per = Dataset(), Dataset(), []
    pm.PixelSpacing = [0.5, 0.6]
    shared.PixelMeasuresSequence = [pm]
    ds.SharedFunctionalGroupsSequence = [shared]
    for _ in range(2):  # both frames at one position: a cine
        item, pp = Dataset(), Dataset()
        pp.ImagePositionPatient = [1, 2, 3]
        item.PlanePositionSequence = [pp]
        per.append(item)
    ds.PerFrameFunctionalGroupsSequence = per
    ds.save_as(p)
    seq = load(p, frame_period_s=0.3)
    assert seq.spacing == (0.5, 0.6) and seq.n_frames == 2


def test_jpeg_pixels_fall_back_to_simpleitk_rescaled_once(tmp_path):
    import SimpleITK as sitk

    values = (np.arange(30).reshape(5, 6) * 10).astype(np.int16)
    for i in range(2):
        img = sitk.GetImageFromArray(values + 2 * i)  # even: exact with slope 2
        for key, v in [
            ("0028|1053", "2"),
            ("0028|1052", "-1024"),
            ("0020|000e", "1.2.3.9"),
            ("0020|0100", str(i + 1)),
            ("0028|0030", "1\\1"),
        ]:
            img.SetMetaData(key, v)
        w = sitk.ImageFileWriter()
        w.SetFileName(str(tmp_path / f"f{i}.dcm"))
        w.SetUseCompression(True)
        w.SetCompressor("JPEG")
        w.KeepOriginalImageUIDOn()
        w.Execute(img)
    ds = pydicom.dcmread(tmp_path / "f0.dcm")
    assert ds.file_meta.TransferSyntaxUID.is_compressed and float(ds.RescaleSlope) == 2
    seq = load(tmp_path, frame_period_s=0.2)
    np.testing.assert_array_equal(seq.frames, np.stack([values, values + 2]))
