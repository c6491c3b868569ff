"""Real cine-MRI (../shared/data): LK with each sequence.json's parameters, frame 1 warped forward.

Published upper bounds over the test frames (whole image): ETH nRMSE 0.159, SSIM 0.918, Pearson
0.991; OvGU 0.253 / 0.753 / 0.966. The bounds below are loose; ``benchmarks/registration.py``
prints the exact numbers.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from motionpredict.registration import (
    LKParams,
    LucasKanade,
    rmse,
    roi_from_bounds,
    warp_backward,
    warp_forward,
)

from motionpredict.evaluation.metrics import image_metrics
from motionpredict.io import load

CASES = [
    ("eth-1", {"frame_period_s": 0.314, "spacing_mm": 1.0}, 10, (0.18, 0.88, 0.985)),
    ("ovgu-ks81", {}, 10, (0.30, 0.68, 0.95)),
]


@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.parametrize("name, load_kw, n_test, bounds", CASES)
def test_forward_warp_of_frame_one_matches_test_frames(shared_data, name, load_kw, n_test,
                                                       bounds):
    folder = shared_data / "cine_mri" / name
    meta = json.loads((folder / "sequence.json").read_text())
    seq = load(folder, **load_kw)
    first, last = meta["splits"]["online_methods"]["test"]
    test = list(range(first - 1, last))[:n_test]
    lk = LucasKanade(seq.frames[0], LKParams.from_mapping(meta["reference_lk_parameters"]))
    flows = [lk.register(seq.frames[t]) for t in test]
    pred = np.stack([warp_forward(seq.frames[0], f) for f in flows])
    m = image_metrics(pred, seq.frames[test], true_range=255.0)
    nrmse_max, ssim_min, pearson_min = bounds
    assert m["nrmse"] < nrmse_max and m["ssim_255"] > ssim_min and m["pearson"] > pearson_min
    still = image_metrics(np.repeat(seq.frames[:1], len(test), 0), seq.frames[test],
                          true_range=255.0)
    assert m["nrmse"] < still["nrmse"]  # better than assuming no motion
    roi = meta["roi"]
    mask = roi_from_bounds([tuple(roi["y"]), tuple(roi["x"])], seq.shape)
    reg = [rmse(seq.frames[0], warp_backward(seq.frames[t], f), mask)
           for t, f in zip(test, flows, strict=True)]
    ident = [rmse(seq.frames[0], seq.frames[t], mask) for t in test]
    assert np.mean(reg) < 0.75 * np.mean(ident)
