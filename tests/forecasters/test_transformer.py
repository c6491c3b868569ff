"""Transformer forecasters: training reduces the loss, population weights round-trip, errors."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.errors import ConfigurationError, InputFileError
from motionpredict.forecasters import run_online
from motionpredict.forecasters.transformer import (
    STANDARDISATION,
    PopulationTransformer,
    SequenceTransformer,
    load_population,
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


def test_population_metadata_round_trip(tmp_path) -> None:
    path = tmp_path / "pop.pt"
    info = {"sequences": ["a", "b"], "windows": (1, 300)}
    losses = train_population([sines(phase=0.7), sines(phase=2.0)], path, horizon=3, seed=2,
                              frame_period_s=0.1, info=info, **TINY)
    meta, state = load_population(path)
    assert meta["frame_period_s"] == 0.1
    assert meta["standardisation"] == STANDARDISATION
    assert meta["horizon"] == 3 and meta["n_features"] == 2 and meta["k"] == TINY["k"]
    assert meta["n_pairs"] == 2 * (300 - 3)
    assert meta["final_loss"] == pytest.approx(losses[-1], rel=1e-12)
    assert meta["training"] == {"sequences": ["a", "b"], "windows": [1, 300]}
    assert "embed.weight" in state
    y = sines(phase=1.3)
    plain = run_online(PopulationTransformer(horizon=3, n_features=2, weights_path=path, **TINY),
                       y).predicted
    same = PopulationTransformer(horizon=3, n_features=2, weights_path=path,
                                 frame_period_s=0.1 * (1 + 1e-9), **TINY)
    np.testing.assert_array_equal(run_online(same, y).predicted, plain)
    assert same.file_meta["frame_period_s"] == 0.1


def test_population_period_mismatch_refused(tmp_path) -> None:
    path = tmp_path / "pop10hz.pt"
    train_population([sines()], path, horizon=3, frame_period_s=0.1, **{**TINY, "epochs": 1})
    for other in (1 / 30, 0.3, 0.1 * (1 + 1e-5)):
        with pytest.raises(InputFileError, match=r"pop10hz\.pt: .*sampled every 0\.1 s"):
            PopulationTransformer(horizon=3, n_features=2, weights_path=path,
                                  frame_period_s=other, **TINY)
    with pytest.raises(ConfigurationError, match="positive"):
        PopulationTransformer(horizon=3, n_features=2, weights_path=path, frame_period_s=0.0,
                              **TINY)
    with pytest.raises(ConfigurationError, match="positive"):
        train_population([sines()], tmp_path / "x.pt", horizon=3, frame_period_s=-0.1, **TINY)
    with pytest.raises(ConfigurationError, match="JSON"):
        train_population([sines()], tmp_path / "x.pt", horizon=3, info={"f": object()}, **TINY)
    assert not (tmp_path / "x.pt").exists()


def test_population_old_file_without_period_loads(tmp_path) -> None:
    """Files written before the period was recorded load, with or without a period asked."""
    import torch

    from motionpredict.forecasters.transformer_net import build, save_weights

    net = build({**TINY, "layers": 1, "heads": 2}, 2, seed=4)
    old_meta = {"k": 6, "d_model": 8, "layers": 1, "heads": 2, "dropout": 0.0, "horizon": 3,
                "n_features": 2}
    path = tmp_path / "old.pt"
    save_weights(path, old_meta, net)
    meta, _ = load_population(path)
    assert meta.get("frame_period_s") is None
    f = PopulationTransformer(horizon=3, n_features=2, weights_path=path, frame_period_s=0.1,
                              **TINY)
    window = np.linspace(-1, 1, 12).reshape(6, 2)
    expected = net(torch.from_numpy(window[None])).detach().numpy()[0]
    for row in window:
        pred = f.step(row)
    np.testing.assert_allclose(pred, window[-1] + expected, rtol=1e-12, atol=1e-12)


def test_population_malformed_files(tmp_path) -> None:
    import torch

    good = tmp_path / "good.pt"
    train_population([sines()], good, horizon=3, frame_period_s=0.1, **{**TINY, "epochs": 1})
    blob = torch.load(good, weights_only=True)

    def write(name: str, obj: object):
        path = tmp_path / name
        torch.save(obj, path)
        return path

    cases = {
        "list.pt": ([1, 2, 3], "no 'meta' and 'state_dict'"),
        "nometa.pt": ({"state_dict": blob["state_dict"]}, "no 'meta' and 'state_dict'"),
        "nohorizon.pt": ({"meta": {k: v for k, v in blob["meta"].items() if k != "horizon"},
                          "state_dict": blob["state_dict"]}, r"lacks the settings \['horizon'\]"),
        "badperiod.pt": ({"meta": {**blob["meta"], "frame_period_s": -0.1},
                          "state_dict": blob["state_dict"]}, "invalid frame_period_s"),
        "textperiod.pt": ({"meta": {**blob["meta"], "frame_period_s": "10 Hz"},
                           "state_dict": blob["state_dict"]}, "invalid frame_period_s"),
        "globalstd.pt": ({"meta": {**blob["meta"], "standardisation": "global z-score"},
                          "state_dict": blob["state_dict"]}, "standardised as 'global z-score'"),
        "shapes.pt": ({"meta": blob["meta"],
                       "state_dict": {**blob["state_dict"], "head.bias": torch.zeros(5)}},
                      "do not fit the recorded architecture"),
    }
    for name, (obj, message) in cases.items():
        path = write(name, obj)
        with pytest.raises(InputFileError, match=message) as err:
            PopulationTransformer(horizon=3, n_features=2, weights_path=path, **TINY)
        assert str(err.value).startswith(str(path))
        assert "\n" not in str(err.value)


def test_population_period_checked_by_the_pipeline_and_evaluation(tmp_path) -> None:
    """The evaluation and the point pipeline pass the series' period to the forecaster, so weights
    trained at 10 Hz are refused on a 3.33 Hz series without the user asking for the check."""
    from motionpredict.ct4d.pipeline import forecast_series as forecast_points
    from motionpredict.evaluation.protocol import Splits, forecast_series

    path = tmp_path / "pop10hz.pt"
    train_population([sines()], path, horizon=3, frame_period_s=0.1, **{**TINY, "epochs": 1})
    y = sines()
    splits = Splits(train=(0, 40), validation=(40, 60), test=(60, len(y)), offline_fit_until=50)
    params = {"weights_path": str(path), **TINY}
    kw = {"method": "transformer-population", "horizon": 3, "mode": "causal", "seed": 0,
          "params": params, "splits": splits}
    pred, _, _ = forecast_series(y, frame_period_s=0.1, **kw)
    assert np.isfinite(pred[60:]).all()
    with pytest.raises(InputFileError, match=r"pop10hz\.pt"):
        forecast_series(y, frame_period_s=0.3, **kw)
    with pytest.raises(InputFileError, match=r"pop10hz\.pt"):
        forecast_points(y, 0.3, method="transformer-population", horizon_s=0.9,
                        train_samples=40, params=params)
    # an explicit parameter still wins over the series' period
    forecast_series(y, frame_period_s=0.3, **{**kw, "params": {**params, "frame_period_s": 0.1}})
