"""One-call set-up of a 4DCT experiment and 4DCT detection for the command line."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.ct4d import prepare_ct4d
from motionpredict.ct4d.command import is_ct4d
from motionpredict.errors import ValidationError


def test_prepare_with_known_fields_is_replayable(tiny_ct):
    kw = {"fields": tiny_ct.true_fields, "n_points": 2, "min_distance_mm": 5.0, "seed": 9,
          "duration_s": 40.0}
    a = prepare_ct4d(tiny_ct.sequence, tiny_ct.tumour_mask, **kw)
    b = prepare_ct4d(tiny_ct.sequence, tiny_ct.tumour_mask, **kw)
    assert a.registration_s == 0.0
    assert a.points_mm.shape == (2, 3)
    np.testing.assert_array_equal(a.trajectories.positions, b.trajectories.positions)
    replay = prepare_ct4d(tiny_ct.sequence, tiny_ct.tumour_mask, fields=tiny_ct.true_fields,
                          points_mm=a.points_mm, series_params=a.series.params)
    np.testing.assert_array_equal(replay.trajectories.positions, a.trajectories.positions)
    assert a.trajectories.n_samples == 100  # 40 s at 2.5 Hz
    model = a.correspondence("linear", train_samples=50, n_from_train=5)
    assert model.fields_.shape[0] == 15
    sig = a.series.signal(tiny_ct.signal.signal)
    ext = a.correspondence("nw", train_samples=50, surrogate=sig,
                           phase_surrogate=tiny_ct.signal.signal[:, None])
    assert ext.predict(sig[60]).shape == (*tiny_ct.sequence.shape, 3)


def test_prepare_rejects_mismatched_roi(tiny_ct):
    with pytest.raises(ValidationError, match="ROI mask"):
        prepare_ct4d(tiny_ct.sequence, np.ones((3, 3, 3), bool), fields=tiny_ct.true_fields)


def test_is_ct4d(tiny_ct):
    assert is_ct4d(tiny_ct.sequence, None)  # phantom 4DCT
    assert is_ct4d(tiny_ct.sequence, {"kind": "ct4d-phases"})
    plain = tiny_ct.sequence.subset(slice(None))
    plain.provenance = type(plain.provenance)()
    assert not is_ct4d(plain, {"kind": "cine-mri-2d"})
    assert not is_ct4d(tiny_ct.true_fields, None)
    assert not is_ct4d(tiny_ct.tumour, {"kind": "ct4d-phases"})  # points, whatever the sidecar
