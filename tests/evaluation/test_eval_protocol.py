"""Protocol: horizons, splits, sidecars, grid search on validation only, fast path == pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.errors import ConfigurationError
from motionpredict.evaluation import protocol as P
from motionpredict.evaluation.cache import ArrayCache, content_hash
from motionpredict.pipeline import horizon_to_steps, parse_horizon

ETH_LIKE = {
    "splits": {"online_methods": {"train": [1, 90], "cv": [91, 180], "test": [181, 200]},
               "offline_methods_last_training_target": 160},
    "horizons_steps": [1, 2, 3],
    "roi": {"x": [52, 134], "y": [154, 230]},
}


def test_horizon_conversion_refuses_fractions_unless_rounding() -> None:
    assert horizon_to_steps(0.6, 0.2) == 3
    assert horizon_to_steps(0.6 * 1.005, 0.2) == 3  # within 1 %
    with pytest.raises(ConfigurationError, match="not a whole"):
        horizon_to_steps(0.7, 0.2)
    assert horizon_to_steps(0.75, 0.2, round_horizon=True) == 4  # 3.75 periods -> 4
    with pytest.raises(ConfigurationError):
        horizon_to_steps(-1.0, 0.2)
    assert parse_horizon("0.6s") == (0.6, None)
    assert parse_horizon("600ms") == (pytest.approx(0.6), None)
    assert parse_horizon("3steps") == (None, 3)
    assert parse_horizon("3") == (None, 3)
    with pytest.raises(ConfigurationError, match="not understood"):
        parse_horizon("soon")


def test_sidecar_splits_horizons_roi() -> None:
    sp = P.splits_from_sidecar(ETH_LIKE, 200)
    assert sp is not None
    assert (sp.train, sp.validation, sp.test, sp.offline_fit_until) == (
        (0, 90), (90, 180), (180, 200), 160)
    assert P.horizons_from_sidecar(ETH_LIKE, 0.314) == pytest.approx([0.314, 0.628, 0.942])
    roi = P.roi_from_sidecar(ETH_LIKE, (270, 270))
    assert roi is not None and roi.sum() == (230 - 154 + 1) * (134 - 52 + 1)
    rows, cols = np.nonzero(roi)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (153, 229, 51, 133)
    markers = {"splits": {"10hz": {"train": [1, 300], "cv": [301, 600], "test_from": 601,
                                   "offline_last_training_target": 540}}}
    ms = P.splits_from_sidecar(markers, 1300, sample_period_s=0.1)
    assert ms is not None and ms.test == (600, 1300) and ms.offline_fit_until == 540
    with pytest.raises(ConfigurationError, match="ordered"):
        P.splits_from_one_based({"train": [1, 50], "cv": [40, 60], "test": [61, 70]}, 70, "x")


def test_grid_expansion_and_override() -> None:
    g = P.expand_grid({"a": [1, 2], "b": 3, "c": (4, 5)})
    assert len(g) == 4 and {"a": 2, "b": 3, "c": 5} in g
    lms = P.method_grid("lms", {"eta": [0.1], "k": [3, 4]})
    assert {d["eta"] for d in lms} == {0.1} and {d["k"] for d in lms} == {3, 4}


def test_cache_hits_and_key_changes(tmp_path) -> None:
    cache = ArrayCache(tmp_path)
    calls = []

    def compute() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"x": np.arange(5.0)}

    k1 = content_hash(np.zeros(3), {"a": 1})
    assert k1 == content_hash(np.zeros(3), {"a": 1})
    assert k1 != content_hash(np.zeros(3), {"a": 2})
    assert k1 != content_hash(np.zeros(3, np.float32), {"a": 1})
    np.testing.assert_array_equal(cache.get_or_compute("t", k1, compute)["x"], np.arange(5.0))
    np.testing.assert_array_equal(cache.get_or_compute("t", k1, compute)["x"], np.arange(5.0))
    assert len(calls) == 1 and cache.hits == 1
    ArrayCache._memory.clear()  # a new process: reads the file
    (tmp_path / f"t-{k1[:40]}.npz").write_bytes(b"truncated")  # a damaged file is recomputed
    cache.get_or_compute("t", k1, compute)
    assert len(calls) == 2
    assert not list(tmp_path.glob(".tmp-*"))


def _markers(n: int = 300, seed: int = 0):
    from motionpredict.phantom import make_markers

    return make_markers(seed=seed, duration_s=n / 10.0, rate_hz=10.0).sequence


def test_markers_validation_never_sees_the_test_window() -> None:
    traj = _markers()
    splits = P.Splits((0, 100), (100, 200), (200, traj.n_samples), 100, "test")
    grid = P.method_grid("lms", {"eta": [0.001, 0.01, 0.05], "k": [4]})
    a = P.evaluate_markers(traj, splits, method="lms", horizon_steps=3, mode="causal", seed=0,
                           grid=grid)
    changed = traj.positions.copy()
    changed[200:] += np.random.default_rng(0).normal(0, 5.0, changed[200:].shape)
    from motionpredict.sequences import PointTrajectories

    b = P.evaluate_markers(PointTrajectories(changed, traj.times), splits, method="lms",
                           horizon_steps=3, mode="causal", seed=0, grid=grid)
    assert a.validation_score == b.validation_score and a.chosen == b.chosen
    assert a.metrics["rmse_mm"] != b.metrics["rmse_mm"]
    nop = P.evaluate_markers(traj, splits, method="no-prediction", horizon_steps=3,
                             mode="causal", seed=0, grid=[{}])
    assert nop.metrics["rmse_mm"] == pytest.approx(nop.metrics["no_prediction_rmse_mm"])


def test_offline_methods_are_scored_after_their_fit_window() -> None:
    sp = P.Splits((0, 10), (10, 30), (30, 40), 20, "t")
    assert P.scored_window(sp.validation, sp, "linear") == (20, 30)
    assert P.scored_window(sp.validation, sp, "lms") == (10, 30)
    with pytest.raises(ConfigurationError, match="no validation target"):
        P.scored_window((10, 20), sp, "linear")


@pytest.fixture(scope="module")
def cine_data():
    from motionpredict.phantom import make_cine

    ph = make_cine(seed=0, n_frames=40, shape=(64, 64))
    seq = ph.sequence
    splits = P.splits_from_one_based({"train": [1, 16], "cv": [17, 28], "test": [29, 40]}, 40,
                                     "test")
    fields, ms, _ = P.register_all(seq)
    return ph, P.CineData(sequence=seq, fields_mm=fields, register_ms=ms, splits=splits,
                          roi=ph.tumour_mask, true_fields_mm=ph.true_fields.fields)


@pytest.mark.parametrize("mode", ["causal", "reference"])
def test_fast_protocol_equals_online_pipeline(cine_data, mode: str) -> None:
    from motionpredict.pipeline import OnlineFramePipeline, run_sequence

    ph, data = cine_data
    grid = P.method_grid("lms", {"eta": [0.01, 0.05], "k": [4]})
    res, arts = P.evaluate_cine(data, method="lms", horizon_steps=2, mode=mode, seed=0,
                                grid=grid, n_components=[1, 2])
    pipe = OnlineFramePipeline(data.sequence, method="lms", horizon_s=0.5, mode=mode,
                               train_frames=16, n_components=res.chosen["n_components"],
                               method_params=res.chosen["params"])
    run = run_sequence(pipe, window=data.splits.test, roi=ph.tumour_mask,
                       true_fields=ph.true_fields)
    for k in ("dvf_mean_mm", "dvf_roi_mean_mm", "dvf_true_mean_mm", "nrmse", "ssim_255",
              "pearson", "pca_truncation_mean_mm"):
        assert run.metrics[k] == pytest.approx(res.metrics[k], rel=1e-5), k
    assert res.label.startswith("reference") == (mode == "reference")
    assert arts["triplet_predicted"].shape == (3, 64, 64)


def test_cine_validation_independent_of_test_fields(cine_data) -> None:
    _, data = cine_data
    grid = P.method_grid("lms", {"eta": [0.01, 0.05], "k": [4]})
    a, _ = P.evaluate_cine(data, method="lms", horizon_steps=1, mode="causal", seed=0,
                           grid=grid, n_components=[1, 2])
    f = data.fields_mm.copy()
    f[data.splits.test[0]:] *= 1.5
    changed = P.CineData(sequence=data.sequence, fields_mm=f, register_ms=data.register_ms,
                         splits=data.splits)
    b, _ = P.evaluate_cine(changed, method="lms", horizon_steps=1, mode="causal", seed=0,
                           grid=grid, n_components=[1, 2])
    assert a.validation_score == b.validation_score and a.chosen == b.chosen
    assert a.metrics["dvf_mean_mm"] != b.metrics["dvf_mean_mm"]
