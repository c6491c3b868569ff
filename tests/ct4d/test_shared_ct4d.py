"""ct4d-117 (real 4DCT, reference data): loading options, ROI, point picking, 3D registration."""

from __future__ import annotations

import json

import numpy as np
import pytest

from motionpredict.ct4d import pick_points, roi_mask_xyz, track_points
from motionpredict.errors import MissingMetadataError
from motionpredict.io import load
from motionpredict.registration import LKParams, register_sequence

pytestmark = pytest.mark.shared_data


def test_ct4d_117_points_move_with_breathing(shared_data):
    folder = shared_data / "ct4d" / "ct4d-117"
    with pytest.raises(MissingMetadataError):
        load(folder)  # no voxel spacing stored: never assumed
    seq = load(folder, spacing_mm=1.0, frame_period_s=0.4)
    meta = json.loads((folder / "sequence.json").read_text())
    assert seq.frames.shape[0] == 10
    roi = roi_mask_xyz(meta["roi"], seq.shape)
    assert roi.sum() == 56 * 39 * 41
    pts = pick_points(seq.frames[0], seq.spacing, roi, n_points=3, margin_mm=5.0)
    # register the reference to the phase farthest from it only (seconds, not minutes)
    params = LKParams.from_mapping(meta["reference_lk_parameters"])
    pair = seq.subset([0, 5])
    fields = register_sequence(pair, params=params)
    traj = track_points(fields, pts)
    shift = np.linalg.norm(traj.positions[1] - traj.positions[0], axis=1)
    assert shift.max() > 1.0  # internal points near the tumour move by more than 1 voxel
    assert shift.max() < 30.0
