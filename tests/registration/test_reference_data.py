"""Real cine-MRI (../shared/data): LK with each sequence.json's parameters, frame 1 warped forward.

Published upper bounds over the test frames (whole image): ETH nRMSE 0.159, SSIM 0.918, Pearson
0.991; OvGU 0.253 / 0.753 / 0.966. The bounds below are loose; ``benchmarks/registration.py``
prints the exact numbers.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from motionpredict.io import load
from motionpredict.metrics import image_metrics
from motionpredict.registration import (
    LKParams,
    LucasKanade,
    rmse,
    roi_from_bounds,
    warp_backward,
    warp_forward,
)

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


@pytest.mark.shared_data
@pytest.mark.slow
def test_reference_parameters_reproduce_the_reference_pca_weights(shared_data):
    """Our eth-1 fields, reduced by PCA (training frames 1-90) like the reference implementation,
    give the same first three weight series as its ``reference_pca_weights.mat``."""
    loadmat = pytest.importorskip("scipy.io").loadmat
    folder = shared_data / "cine_mri" / "eth-1"
    meta = json.loads((folder / "sequence.json").read_text())
    seq = load(folder, frame_period_s=0.314, spacing_mm=1.0)
    lk = LucasKanade(seq.frames[0], LKParams.from_mapping(meta["reference_lk_parameters"]))
    n_frames = 120  # the 90 training frames and 30 more keep the test short
    flows = np.stack([lk.register(f) for f in seq.frames[:n_frames]])  # (T, 2, H, W) px
    x = np.moveaxis(flows, 1, -1)[..., ::-1].reshape(n_frames, -1).astype(np.float64)
    n_train = meta["splits"]["online_methods"]["train"][1]
    centred = x[:n_train] - x[:n_train].mean(0)
    lam, vec = np.linalg.eigh(centred @ centred.T)  # Gram matrix, as the reference does
    components = centred.T @ vec[:, ::-1][:, :3] / np.sqrt(lam[::-1][:3])
    ours = (x - x[:n_train].mean(0)) @ components
    ref = loadmat(folder / "reference_pca_weights.mat")["org_data"][:, :n_frames]
    corr = [abs(np.corrcoef(ours[:, k], ref[k])[0, 1]) for k in range(3)]
    assert corr[0] > 0.995 and corr[1] > 0.98 and corr[2] > 0.98
    ratio = ours.std(0) / ref.std(1)
    assert np.all((ratio > 0.6) & (ratio < 1.2))
