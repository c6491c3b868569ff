"""The forecaster contract machinery: alignment, modes, divergence handling, standardisation."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.forecasters import Forecaster, Standardizer, get, run_online
from motionpredict.forecasters.base import History


class _Echo(Forecaster):
    """Test double: returns the lookahead when given (reference mode), else y + 1."""

    name = "_echo"

    def _reset_model(self) -> None:
        self.resets = getattr(self, "resets", -1) + 1

    def _predict_and_learn(self, y: np.ndarray, lookahead: np.ndarray | None) -> np.ndarray:
        if lookahead is not None:
            return lookahead.copy()
        if y[0] > 100:
            return np.full_like(y, np.nan)
        return y + 1.0


def test_run_online_aligns_forecasts_to_their_target_time() -> None:
    series = np.arange(10.0)[:, None]
    run = run_online(get("no-prediction")(horizon=3, n_features=1), series)
    assert np.all(np.isnan(run.predicted[:3]))
    np.testing.assert_array_equal(run.predicted[3:, 0], series[:-3, 0])
    np.testing.assert_array_equal(run.issued_at[3:], np.arange(7))
    assert run.mode == "causal" and run.step_ms.shape == (10,)


def test_reference_mode_passes_the_lookahead_and_causal_mode_never_does() -> None:
    series = np.arange(8.0)[:, None]
    ref = run_online(_Echo(horizon=2, n_features=1, mode="reference"), series)
    np.testing.assert_array_equal(ref.predicted[2:, 0], series[2:, 0])  # perfect: it saw the target
    causal = run_online(_Echo(horizon=2, n_features=1), series)
    np.testing.assert_array_equal(causal.predicted[2:, 0], series[:-2, 0] + 1)


def test_divergence_resets_the_model_and_falls_back_to_the_last_sample() -> None:
    f = _Echo(horizon=1, n_features=2)
    assert f.resets == 0
    out = f.step(np.array([101.0, 5.0]))
    np.testing.assert_array_equal(out, [101.0, 5.0])
    assert f.resets == 1 and len(f.events) == 1 and f.events[0].step == 0
    assert "non-finite" in f.events[0].reason


def test_contract_rejects_bad_configuration_and_samples() -> None:
    with pytest.raises(ConfigurationError, match="horizon"):
        _Echo(horizon=0, n_features=1)
    with pytest.raises(ConfigurationError, match="mode"):
        _Echo(horizon=1, n_features=1, mode="future")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="unknown hyper-parameter"):
        _Echo(horizon=1, n_features=1, eta=0.1)
    with pytest.raises(ValidationError, match="NaN"):
        _Echo(horizon=1, n_features=1).step(np.array([np.nan]))
    with pytest.raises(ConfigurationError, match="unknown method"):
        get("crystal-ball")


def test_standardizer_uses_training_statistics_only() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(3.0, 2.0, size=(500, 2))
    st = Standardizer(train)
    z = st.transform(train)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-12)
    later = rng.normal(50.0, 1.0, size=(5, 2))
    np.testing.assert_allclose(st.inverse(st.transform(later)), later)
    with pytest.raises(ValidationError):
        Standardizer(train[:1])


def test_history_pads_with_the_first_sample() -> None:
    h = History(k=3, p=2)
    h.push(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(h.vector(), [1, 2, 1, 2, 1, 2])
    h.push(np.array([3.0, 4.0]))
    np.testing.assert_array_equal(h.vector(), [1, 2, 1, 2, 3, 4])
