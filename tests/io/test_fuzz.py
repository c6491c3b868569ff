"""Fuzzing: header fields and CSV text never cause an unhandled exception or a wrong sequence."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from io_helpers import write_frame

from motionpredict.errors import MotionPredictError
from motionpredict.io import load

_text = st.text(alphabet=st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=12)
_header = st.fixed_dictionaries(
    {},
    optional={
        "AcquisitionTime": st.one_of(_text, st.just("101010.5")),
        "AcquisitionDate": _text,
        "TriggerTime": st.one_of(_text, st.floats(-1e6, 1e6).map(lambda v: f"{v:.4g}")),
        "InstanceNumber": st.one_of(
            _text.filter(lambda s: s.strip().lstrip("-").isdigit()), st.integers(-5, 5).map(str)
        ),
        "TemporalPositionIdentifier": st.integers(0, 3).map(str),
        "PixelSpacing": st.lists(
            st.floats(-2, 5).map(lambda v: f"{v:.3g}"), min_size=1, max_size=3
        ),
        "RescaleSlope": st.floats(-3, 3).map(lambda v: f"{v:.3g}"),
        "RescaleIntercept": st.floats(-1e3, 1e3).map(lambda v: f"{v:.3g}"),
    },
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(headers=st.lists(_header, min_size=1, max_size=3))
def test_dicom_header_fuzz(tmp_path_factory, headers):
    folder = tmp_path_factory.mktemp("fz")
    for i, h in enumerate(headers):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pydicom warns about the invalid values we want
                write_frame(folder / f"f{i}.dcm", np.full((3, 4), i + 1), **h)
        except (ValueError, TypeError, OverflowError):
            return  # pydicom refuses to write this value: nothing to read
    try:
        seq = load(folder, frame_period_s=0.1, spacing_mm=1.0)
    except MotionPredictError:
        return
    # never silently wrong: all frames, finite, strictly increasing times, positive spacing
    assert seq.n_frames == len(headers)
    assert np.all(np.isfinite(seq.frames)) and np.all(np.diff(seq.times) > 0)
    assert all(s > 0 for s in seq.spacing)
    expected = []
    for i, h in enumerate(headers):
        slope = float(h.get("RescaleSlope", "1")) or 1.0
        expected.append(
            np.float32(i + 1) * np.float32(slope) + np.float32(h.get("RescaleIntercept", "0"))
        )
    np.testing.assert_allclose(sorted(seq.frames[:, 0, 0]), sorted(expected), rtol=1e-5, atol=1e-30)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(alphabet='0123456789;,.-"Frametsxyz \n', max_size=200))
def test_marker_csv_fuzz(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("csv")
    (folder / "m-LAC-1.csv").write_text('"Frame";"Timestamp";"x";"y";"z"\n' + text)
    try:
        traj = load(folder)
    except MotionPredictError:
        return
    assert np.all(np.isfinite(traj.positions)) and np.all(np.diff(traj.times) > 0)
    assert traj.positions.shape[1:] == (1, 3)


@pytest.mark.parametrize(
    "text",
    ["t,x,y,z\n0,1,2\n", "t,x,y,z\n0,1,2,nan\n", "x,y,z\n1,2,3\n", "t,x,y,z\n1,1,2,3\n0,1,2,3\n"],
)
def test_plain_csv_bad_cases(tmp_path, text):
    (tmp_path / "p.csv").write_text(text)
    with pytest.raises(MotionPredictError):
        load(tmp_path / "p.csv")
