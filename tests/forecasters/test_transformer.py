"""Transformer forecasters: training reduces the loss, population weights round-trip, errors."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.errors import ConfigurationError, InputFileError
from motionpredict.forecasters import run_online
from motionpredict.forecasters.transformer import (
    PopulationTransformer,
    SequenceTransformer,
    train_population,
)

TINY = {"k": 6, "d_model": 8, "epochs": 6, "dropout": 0.0, "lr": 5e-3}


def sines(n: int = 300, phase: float = 0.0) -> np.ndarray:
    t = np.arange(n) * 0.1
    return np.stack([np.sin(2 * np.pi * t / 4 + phase), np.cos(2 * np.pi * t / 3.5 + phase)], 1)


def test_sequence_transformer_learns() -> None:
    y = sines()
    f = SequenceTransformer(horizon=3, n_features=2, seed=1, **{**TINY, "epochs": 30, "lr": 1e-2})
    f.fit(y[:200])
    assert f.train_losses[-1] < 0.5 * f.train_losses[0]
    run = run_online(f, y, fit_until=None)
    err = np.sqrt(np.mean((run.predicted[200:] - y[200:]) ** 2))
    err0 = np.sqrt(np.mean((y[197:-3] - y[200:]) ** 2))
    assert err < 0.4 * err0


def test_population_weights_round_trip(tmp_path) -> None:
    others = [sines(phase=0.7), sines(phase=2.0)]
    path = tmp_path / "sub" / "pop.pt"
    losses = train_population(others, path, horizon=3, seed=2, **TINY)
    assert losses[-1] < losses[0]
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["pop.pt"]  # no temporary left
    a = PopulationTransformer(horizon=3, n_features=2, weights_path=str(path), **TINY)
    b = PopulationTransformer(horizon=3, n_features=2, weights_path=path, seed=9, **TINY)
    y = sines(phase=1.3)
    pa = run_online(a, y).predicted
    np.testing.assert_array_equal(pa, run_online(b, y).predicted)
    err = np.sqrt(np.nanmean((pa[100:] - y[100:]) ** 2))
    err0 = np.sqrt(np.mean((y[97:-3] - y[100:]) ** 2))
    assert err < err0


def test_population_errors(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="weights_path"):
        PopulationTransformer(horizon=3, n_features=2, **TINY)
    with pytest.raises(InputFileError, match="not found"):
        PopulationTransformer(horizon=3, n_features=2, weights_path=tmp_path / "x.pt", **TINY)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(InputFileError, match=r"junk\.pt"):
        PopulationTransformer(horizon=3, n_features=2, weights_path=junk, **TINY)
    path = tmp_path / "pop.pt"
    train_population([sines()], path, horizon=3, **{**TINY, "epochs": 1})
    with pytest.raises(InputFileError, match="horizon"):
        PopulationTransformer(horizon=4, n_features=2, weights_path=path, **TINY)
    with pytest.raises(InputFileError, match="k"):
        PopulationTransformer(horizon=3, n_features=2, weights_path=path, **{**TINY, "k": 5})
    with pytest.raises(ConfigurationError, match="multiple"):
        SequenceTransformer(horizon=1, n_features=2, d_model=7)
    with pytest.raises(ConfigurationError, match="fit"):
        SequenceTransformer(horizon=1, n_features=2).step(np.zeros(2))
