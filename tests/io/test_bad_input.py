"""Every bad input of issue 3: a MotionPredictError subclass naming the problem; CLI exit 2."""

from __future__ import annotations

import numpy as np
import pytest
from io_helpers import cine, write_cine_folder, write_frame

from motionpredict.cli.main import main
from motionpredict.errors import InputFileError, MissingMetadataError, MotionPredictError
from motionpredict.io import load
from motionpredict.io.dicom_read import MixedSeriesError


def test_empty_folder(tmp_path):
    with pytest.raises(InputFileError, match="empty"):
        load(tmp_path)


def test_non_dicom_files_skipped_with_warning(tmp_path):
    stack = write_cine_folder(tmp_path, 4)
    (tmp_path / "notes").write_text("hello")
    (tmp_path / "scan.IMA").write_bytes(b"\x00" * 300)
    seq = load(tmp_path)
    np.testing.assert_array_equal(seq.frames, stack)
    assert sum("not a DICOM file" in w for w in seq.provenance.warnings) == 2


def test_any_extension_and_numeric_file_order(tmp_path):
    stack = write_cine_folder(tmp_path, 11, ext="")
    for i in range(11):  # strip times and instance numbers: only the file name orders
        import pydicom

        ds = pydicom.dcmread(tmp_path / f"image{i + 1}")
        del ds.AcquisitionTime, ds.AcquisitionDate, ds.InstanceNumber
        ds.save_as(tmp_path / f"image{i + 1}")
    seq = load(tmp_path, frame_period_s=0.2)
    assert seq.provenance.ordering == "file-name-number"
    np.testing.assert_array_equal(seq.frames, stack)  # image10 after image9


def test_truncated_file_named(tmp_path):
    write_cine_folder(tmp_path, 3)
    data = (tmp_path / "image2.dcm").read_bytes()
    (tmp_path / "image2.dcm").write_bytes(data[:200])
    with pytest.raises(InputFileError, match=r"image2\.dcm"):
        load(tmp_path)


def test_truncated_pixel_data_named(tmp_path):
    write_cine_folder(tmp_path, 3)
    data = (tmp_path / "image3.dcm").read_bytes()
    (tmp_path / "image3.dcm").write_bytes(data[:-20])
    with pytest.raises(InputFileError, match=r"image3\.dcm"):
        load(tmp_path)


def test_missing_pixel_data(tmp_path):
    write_frame(tmp_path / "a.dcm", None, PixelSpacing=[1, 1])
    with pytest.raises(InputFileError, match="PixelData"):
        load(tmp_path, frame_period_s=0.1)


def test_inconsistent_frame_sizes(tmp_path):
    write_cine_folder(tmp_path, 3)
    write_frame(tmp_path / "image4.dcm", np.zeros((9, 7)), PixelSpacing=[1.25, 1.5])
    with pytest.raises(MixedSeriesError, match="inconsistent frame sizes"):
        load(tmp_path)


def test_mixed_series_listed_and_selectable(tmp_path):
    stack = write_cine_folder(tmp_path, 3, period=0.2)
    for i in range(2):
        write_frame(
            tmp_path / f"other{i}.dcm",
            np.ones((8, 7)),
            series_uid="9.9.9",
            PixelSpacing=[1, 1],
            InstanceNumber=i + 1,
        )
    with pytest.raises(MixedSeriesError) as exc:
        load(tmp_path)
    assert (
        "1.2.3.4" in str(exc.value) and "9.9.9" in str(exc.value) and "--series" in str(exc.value)
    )
    seq = load(tmp_path, series="1.2.3.4")
    np.testing.assert_array_equal(seq.frames, stack)


@pytest.mark.parametrize(
    "times", [("100000.0", "100000.0", "100000.2"), ("100000.4", "100000.0", "100000.2")]
)
def test_duplicated_or_non_monotonic_times(tmp_path, times):
    for i, tm in enumerate(times):
        write_frame(
            tmp_path / f"f{i}.dcm",
            np.full((4, 4), i),
            AcquisitionTime=tm,
            TemporalPositionIdentifier=i + 1,
            PixelSpacing=[1, 1],
        )
    with pytest.raises(InputFileError, match="--frame-period"):
        load(tmp_path)
    seq = load(tmp_path, frame_period_s=0.3)
    np.testing.assert_allclose(seq.times, [0, 0.3, 0.6])
    assert seq.provenance.frame_period_source == "option"
    np.testing.assert_array_equal(seq.frames[:, 0, 0], [0, 1, 2])


def test_unknown_spacing_and_period_name_the_option(tmp_path):
    for i in range(3):
        write_frame(tmp_path / f"f{i}.dcm", np.full((4, 4), i))
    with pytest.raises(MissingMetadataError, match="--spacing"):
        load(tmp_path, frame_period_s=0.1)
    with pytest.raises(MissingMetadataError, match="--frame-period"):
        load(tmp_path, spacing_mm=1.0)
    assert load(tmp_path, spacing_mm=(1.0, 2.0), frame_period_s=0.1).spacing == (1.0, 2.0)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_or_inf_in_nifti(tmp_path, value):
    import SimpleITK as sitk

    arr = cine().frames  # (6, 12, 10) float32
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(tmp_path / "bad.nii"))
    raw = bytearray((tmp_path / "bad.nii").read_bytes())
    offset = 352 + 4 * (2 * 120 + 1 * 10 + 1)  # voxel [2, 1, 1] after the NIfTI-1 header
    raw[offset : offset + 4] = np.float32(value).tobytes()
    (tmp_path / "bad.nii").write_bytes(bytes(raw))
    with pytest.raises(InputFileError, match=r"NaN or Inf values \(frames \[2\]"):
        load(tmp_path / "bad.nii", frame_period_s=0.25)


KRIL = '"Frame";"Timestamp";"x";"y";"z"\n'


def _marker_folder(tmp_path, rows_per_file):
    for name, rows in rows_per_file.items():
        (tmp_path / f"2012-{name}-1.csv").write_text(KRIL + "".join(r + "\n" for r in rows))
    return tmp_path


def test_marker_bad_number(tmp_path):
    _marker_folder(tmp_path, {"LAC": ["0;0;1,0;2,0;3,0", "6;100;1,x;2;3"]})
    with pytest.raises(InputFileError, match=r"line 3.*'x'"):
        load(tmp_path)


def test_marker_missing_column(tmp_path):
    _marker_folder(tmp_path, {"LAC": ["0;0;1,0;2,0", "6;100;1;2"]})
    with pytest.raises(InputFileError, match="5 ';'-separated columns"):
        load(tmp_path)


def test_marker_unequal_lengths(tmp_path):
    _marker_folder(tmp_path, {"LAC": ["0;0;1;2;3", "6;100;1;2;3"], "UAC": ["0;0;1;2;3"]})
    with pytest.raises(InputFileError, match="unequal numbers of samples"):
        load(tmp_path)


def test_marker_trailing_zero_rows_dropped_decimal_comma(tmp_path):
    _marker_folder(tmp_path, {"LAC": ["0;0;-1,5;2,25;3", "6;117;1;2;3", "0;0;0;0;0"]})
    (tmp_path / "sequence.json").write_text('{"markers": ["LAC"], "sampling_hz": 10}')
    traj = load(tmp_path)
    assert traj.n_samples == 2 and traj.names == ("LAC",)
    np.testing.assert_allclose(traj.positions[0, 0], [-1.5, 2.25, 3.0])
    np.testing.assert_allclose(traj.times, [0.0, 0.117])


def test_plain_csv_missing_column(tmp_path):
    (tmp_path / "p.csv").write_text("t,x,y\n0,1,2\n")
    with pytest.raises(InputFileError, match="x,y,z"):
        load(tmp_path / "p.csv")


def test_cli_exit_2_one_line(tmp_path, capsys):
    assert main(["info", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "empty" in err


def test_errors_are_motionpredict_errors():
    assert issubclass(MixedSeriesError, MotionPredictError)


def test_invalid_pixel_spacing_is_reported_not_used(tmp_path):
    for i in range(2):
        write_frame(
            tmp_path / f"f{i}.dcm",
            np.full((4, 4), i),
            PixelSpacing=["-1", "2"],
            TemporalPositionIdentifier=i + 1,
        )
    with pytest.raises(MissingMetadataError, match="--spacing"):
        load(tmp_path, frame_period_s=0.1)
    seq = load(tmp_path, frame_period_s=0.1, spacing_mm=0.5)
    assert seq.spacing == (0.5, 0.5) and any("PixelSpacing" in w for w in seq.provenance.warnings)


def test_marker_names_from_file_names_without_sidecar(tmp_path):
    rows = ["0;0;1;2;3", "6;100;1;2;3"]
    _marker_folder(tmp_path, {"LAC": rows, "UAC": rows, "UCC": rows})
    assert load(tmp_path).names == ("LAC", "UAC", "UCC")


def test_marker_garbled_timestamps_are_repaired_and_reported(tmp_path):
    """Logger glitches (as in the Krilavicius markers-3 files) are interpolated, with a warning."""
    stamps = [12000, 12100, 12200, 12300, 12400, 25.6, 25.8, 12717, 12817, 12917, 13017, 13117]
    rows = [f"{6 * i};{str(t).replace('.', ',')};1;2;{i}" for i, t in enumerate(stamps)]
    _marker_folder(tmp_path, {"LAC": rows})
    traj = load(tmp_path)
    np.testing.assert_allclose(traj.times[4:8], [0.4, 0.5057, 0.6113, 0.717], atol=1e-3)
    assert np.all(np.diff(traj.times) > 0)
    assert any("line(s) 7, 8" in w for w in traj.provenance.warnings)


def test_marker_disordered_timestamps_are_refused(tmp_path):
    stamps = [0, 100, 200, 300, 250, 240, 230, 220, 210, 200, 190, 180]
    _marker_folder(tmp_path, {"LAC": [f"{i};{t};1;2;3" for i, t in enumerate(stamps)]})
    with pytest.raises(InputFileError, match="decreasing timestamp"):
        load(tmp_path)
