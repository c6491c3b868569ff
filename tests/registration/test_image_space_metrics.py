"""Image-space metrics of the comparisons with the papers: per-frame nRMSE (the published
definition) beside the pooled one."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict import metrics as M


def test_per_frame_nrmse_is_the_mean_of_frame_nrmses() -> None:
    rng = np.random.default_rng(3)
    acquired = rng.normal(100.0, 20.0, (4, 16, 16))
    acquired[2] += 60.0  # a frame brighter than the others: pooled and per-frame differ
    predicted = acquired + rng.normal(0.0, 5.0, acquired.shape) * np.arange(1, 5)[:, None, None]
    m = M.image_metrics(predicted, acquired, true_range=255.0)
    each = [np.sqrt(((p - a) ** 2).sum() / ((a - a.mean()) ** 2).sum())
            for p, a in zip(predicted, acquired, strict=True)]
    assert m["nrmse_frames"] == pytest.approx(np.mean(each), rel=1e-12)
    assert m["nrmse"] == pytest.approx(M.nrmse(predicted, acquired), rel=1e-12)
    assert m["nrmse"] < m["nrmse_frames"] - 0.01  # the bright frame inflates the pooled variance
    roi = np.zeros((16, 16), bool)
    roi[4:10, 3:12] = True
    mr = M.image_metrics(predicted, acquired, true_range=255.0, mask=roi)
    assert mr["nrmse_frames"] == pytest.approx(
        np.mean([M.nrmse(p[roi], a[roi]) for p, a in zip(predicted, acquired, strict=True)]))
    # constant acquired frames have no nRMSE: left out of the per-frame mean
    flat = acquired.copy()
    flat[1] = 7.0
    m2 = M.image_metrics(predicted, flat, true_range=255.0)
    assert m2["nrmse_frames"] == pytest.approx(np.mean([each[0], each[2], each[3]]))
