"""Reference mode reproduces the authors' published numbers on the real data (skipped without
``../shared/data``). Small subsets of the benchmark ``benchmarks/reference_reproduction.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from threadpoolctl import threadpool_limits

from motionpredict.forecasters import Standardizer, get

pytestmark = pytest.mark.shared_data


@pytest.fixture(autouse=True)
def _single_thread_blas():
    """Vector-sized BLAS calls: threads only add latency (and stall on a loaded machine)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _load(root: Path, rel: str) -> np.ndarray:
    return np.asarray(scipy.io.loadmat(root / rel)["org_data"], dtype=np.float64).T


def _nrmse(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.linalg.norm(pred - true) / np.linalg.norm(true - true.mean(axis=0)))


def _reference_run(series, n_train, test_from, h, seed, **params) -> float:
    std = Standardizer(series[:n_train])
    z = std.transform(series)
    f = get(params.pop("method"))(
        horizon=h, n_features=z.shape[1], mode="reference", seed=seed, **params
    )
    pred = np.full_like(z, np.nan)
    for t in range(len(z)):
        out = f.step(z[t], lookahead=z[t + h] if t + h < len(z) else None)
        if t + h < len(z):
            pred[t + h] = out
    assert not f.events
    return _nrmse(std.inverse(pred)[test_from:], series[test_from:])


def test_no_prediction_nrmse_definition(shared_data: Path) -> None:
    """The learner-free numbers fix the nRMSE definition: 0.172 (0.1 s) and 1.49 (2.1 s)."""
    y = _load(shared_data, "markers/markers-1/resampled_10hz.mat")
    for h, published in ((1, 0.172), (21, 1.49)):
        assert _nrmse(y[600 - h : -h], y[600:]) == pytest.approx(published, rel=0.005)


def test_snap1_markers_reference_mode(shared_data: Path) -> None:
    """markers-1, 10 Hz, k = 60, q = 40, eta = 0.02, h = 2.1 s: published 0.199 (10 runs)."""
    y = _load(shared_data, "markers/markers-1/resampled_10hz.mat")
    value = _reference_run(y, 300, 600, 21, 0, method="snap1", k=60, q=40, eta=0.02)
    assert value == pytest.approx(0.199, rel=0.05)


def test_snap1_eth_reference_mode(shared_data: Path) -> None:
    """eth-1 PCA weights, k = 12, q = 110, eta = 0.02, h = 1: published 0.805 (250 runs)."""
    y = _load(shared_data, "cine_mri/eth-1/reference_pca_weights.mat")
    values = [
        _reference_run(y, 90, 180, 1, seed, method="snap1", k=12, q=110, eta=0.02)
        for seed in range(4)
    ]
    assert np.mean(values) == pytest.approx(0.805, rel=0.05)
