"""``motionpredict train-population``: tiny synthetic marker sequences (phantom), < 20 s."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from motionpredict.cli.main import main
from motionpredict.cli.train_population import ARCH_OPTIONS, horizon_samples
from motionpredict.errors import ConfigurationError, InputFileError
from motionpredict.forecasters import Standardizer, run_online
from motionpredict.forecasters.transformer import PopulationTransformer, load_population
from motionpredict.io import write_points_csv
from motionpredict.phantom import make_markers

FAST = ["--k", "6", "--d-model", "8", "--dropout", "0", "--lr", "1e-2", "--epochs", "5",
        "--no-progress"]
SPLITS_10HZ = {"train": [1, 200], "cv": [201, 400], "test_from": 401,
               "offline_last_training_target": 360}


def positions(seed: int, duration_s: float = 60.0) -> np.ndarray:
    """``(T, 3, 3)`` phantom marker positions in mm at 10 Hz."""
    return make_markers(seed=seed, duration_s=duration_s, rate_hz=10.0).sequence.positions


def write_mat(folder: Path, pos: np.ndarray, *, name: str, splits: dict | None = SPLITS_10HZ
              ) -> Path:
    """Write ``resampled_10hz.mat`` (org_data, coordinate-major rows) and a sidecar."""
    folder.mkdir(parents=True, exist_ok=True)
    org = pos.transpose(2, 1, 0).reshape(3 * pos.shape[1], pos.shape[0])
    scipy.io.savemat(folder / "resampled_10hz.mat", {"org_data": org})
    side: dict = {"name": name, "markers": [f"m{i}" for i in range(pos.shape[1])]}
    if splits is not None:
        side["splits"] = {"10hz": splits}
    (folder / "sequence.json").write_text(json.dumps(side))
    return folder / "resampled_10hz.mat"


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    rc = main(["train-population", *map(str, args)])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(scope="module")
def three(tmp_path_factory) -> tuple[list[Path], np.ndarray]:
    root = tmp_path_factory.mktemp("pop")
    paths = [write_mat(root / f"s{i}", positions(i), name=f"s{i}") for i in (1, 2, 3)]
    return paths, positions(3)


def test_train_exclude_and_forecast_held_out(three, tmp_path, capsys) -> None:
    paths, held = three
    out = tmp_path / "w" / "pop.pt"
    rc, stdout, err = run_cli([*paths, "--frame-period-s", "0.1", "--horizon", "0.3",
                               "--exclude", "s3", "--out", out, *FAST], capsys)
    assert rc == 0, err
    assert [p.name for p in out.parent.iterdir()] == ["pop.pt"]  # atomic, nothing left over
    meta, _ = load_population(out)
    assert meta["frame_period_s"] == 0.1 and meta["horizon"] == 3 and meta["n_features"] == 9
    assert meta["n_pairs"] == 2 * (600 - 3)
    seqs = meta["training"]["sequences"]
    assert [s["name"] for s in seqs] == ["s1", "s2"]  # s3 left out
    assert all(s["train_window"] == [1, 200] and s["window_source"] == "sidecar (10hz)"
               for s in seqs)
    assert "1194 pairs" in stdout and "3 samples of 0.1 s" in stdout and "wrote" in stdout
    assert "epochs 5: training loss" in stdout and "CPU" in stdout
    # the held-out sequence, standardised with its own training window, forecast 0.3 s ahead
    series = held.reshape(len(held), -1)
    std = Standardizer(series[:200])
    f = PopulationTransformer(horizon=3, n_features=9, weights_path=out, frame_period_s=0.1,
                              k=6, d_model=8, dropout=0.0, lr=1e-2, epochs=5)
    pred = std.inverse(run_online(f, std.transform(series)).predicted)
    err_pop = np.sqrt(np.mean((pred[400:] - series[400:]) ** 2))
    err_none = np.sqrt(np.mean((series[397:-3] - series[400:]) ** 2))
    assert err_pop < 0.8 * err_none
    with pytest.raises(InputFileError, match=r"sampled every 0\.1 s"):  # 0.3 s = 1 sample at 0.3 s
        PopulationTransformer(horizon=1, n_features=9, weights_path=out, frame_period_s=0.3,
                              k=6, d_model=8, dropout=0.0, lr=1e-2, epochs=5)
    assert f.file_meta["training"]["targets"] == "all"


def test_each_sequence_standardised_with_its_own_training_window(tmp_path, capsys) -> None:
    pos = positions(5, duration_s=50.0)
    a = write_mat(tmp_path / "a", pos, name="a")
    b = write_mat(tmp_path / "b", 100.0 * pos + 50.0, name="b")  # other units and offset
    c = write_mat(tmp_path / "c", pos, name="c",
                  splits={**SPLITS_10HZ, "train": [1, 100], "cv": [101, 200]})
    states = {}
    for path in (a, b, c):
        out = tmp_path / f"{path.parent.name}.pt"
        rc, _, err = run_cli([path, "--frame-period-s", "0.1", "--horizon", "0.2", "--out", out,
                              *FAST], capsys)
        assert rc == 0, err
        states[path.parent.name] = load_population(out)[1]
    for key, tensor in states["a"].items():
        # the same z-scores: the same weights, whatever the units of the recording
        np.testing.assert_allclose(states["b"][key].numpy(), tensor.numpy(), rtol=1e-6,
                                   atol=1e-9)
    # another training window gives other statistics, hence other weights
    diff = max(float((states["c"][k] - v).abs().max()) for k, v in states["a"].items())
    assert diff > 1e-3


def test_train_s_for_sequences_without_splits(tmp_path, capsys) -> None:
    from motionpredict.phantom import make_markers as mm

    csv = write_points_csv(mm(seed=7, duration_s=40.0, rate_hz=10.0).sequence,
                           tmp_path / "plain" / "seq7.csv")
    out = tmp_path / "pop.pt"
    rc, _, err = run_cli([csv, "--horizon", "0.5", "--out", out, *FAST], capsys)
    assert rc == 2 and "seq7.csv" in err and "--train-s" in err
    assert err.count("\n") == 1 and not out.exists()
    rc, _, err = run_cli([csv, "--horizon", "0.5", "--train-s", "20", "--targets", "train",
                          "--out", out, *FAST], capsys)
    assert rc == 0, err
    meta, _ = load_population(out)
    (seq,) = meta["training"]["sequences"]
    assert seq["train_window"] == [1, 200] and seq["window_source"] == "--train-s 20"
    assert seq["pairs"] == 200 - 5 and meta["n_pairs"] == 195
    assert meta["frame_period_s"] == pytest.approx(0.1, rel=1e-9)
    rc, _, err = run_cli([csv, "--horizon", "0.5", "--train-s", "20", "--targets",
                          "before-test", "--out", out, *FAST], capsys)
    assert rc == 2 and "seq7.csv" in err and "before-test" in err


def test_progress_bar_and_defaults(three, tmp_path, capsys) -> None:
    rc, _, err = run_cli([three[0][0], "--frame-period-s", "0.1", "--horizon", "0.1",
                          "--out", tmp_path / "p.pt", "--k", "4", "--d-model", "4",
                          "--epochs", "2"], capsys)
    assert rc == 0 and "epochs:" in err and "0/2" in err  # tqdm on stderr
    defaults = {hp.name: hp.default for hp in PopulationTransformer.hyperparameters}
    for flag, _, shown, _ in ARCH_OPTIONS:
        assert defaults[flag[2:].replace("-", "_")] == shown


def test_horizon_samples() -> None:
    assert horizon_samples(0.5, 0.1) == 5
    assert horizon_samples(2.1, 0.1) == 21
    assert horizon_samples(0.1, 1 / 30) == 3
    assert horizon_samples(0.1, 0.0333333333) == 3  # 3.000000003 samples: within 1e-6
    for bad, period in ((0.25, 0.1), (0.1, 0.3), (0.5 + 1e-6, 0.1), (0.0, 0.1), (-0.1, 0.1)):
        with pytest.raises(ConfigurationError, match="--horizon"):
            horizon_samples(bad, period)


def test_bad_input_one_line_exit_2(three, tmp_path, capsys) -> None:
    paths, _ = three
    out = tmp_path / "pop.pt"
    junk = tmp_path / "junk" / "resampled_10hz.mat"
    junk.parent.mkdir()
    scipy.io.savemat(junk, {"other": np.zeros((9, 50))})
    two = write_mat(tmp_path / "two", positions(8)[:, :2], name="two")
    short = write_mat(tmp_path / "short", positions(8, duration_s=30.0), name="short")
    csv = write_points_csv(make_markers(seed=9, duration_s=30.0, rate_hz=10.0).sequence,
                           tmp_path / "seq9.csv")
    cases = [
        ([paths[0], "--horizon", "0.5"], str(paths[0]), "--frame-period-s"),
        ([paths[0], "--frame-period-s", "0.1", "--horizon", "0.25"], "--horizon 0.25", "whole"),
        ([csv, "--frame-period-s", "0.2", "--horizon", "0.4", "--train-s", "10"], "seq9.csv",
         "not every 0.2 s"),
        ([paths[0], "--frame-period-s", "0.1", "--horizon", "0.5", "--exclude", "nope"],
         "--exclude nope", "no such sequence"),
        ([paths[0], "--frame-period-s", "0.1", "--horizon", "0.5", "--exclude", "s1"],
         "no training sequence", "--exclude"),
        ([junk, "--frame-period-s", "0.1", "--horizon", "0.5"], str(junk), "org_data"),
        ([paths[0], two, "--frame-period-s", "0.1", "--horizon", "0.5"], str(two), "markers"),
        ([paths[0], paths[0], "--frame-period-s", "0.1", "--horizon", "0.5"], str(paths[0]),
         "twice"),
        ([tmp_path / "missing", "--horizon", "0.5"], "missing", "no such file"),
        ([paths[0], "--frame-period-s", "0.3", "--horizon", "0.6"], str(paths[0]),
         "no training window"),  # the sidecar has 10 Hz splits only
        ([short, "--frame-period-s", "0.1", "--horizon", "0.5"], str(short),
         "splits of its sequence.json do not fit"),  # 300 samples, test from 401
        ([paths[0], "--frame-period-s", "0.1", "--horizon", "0.5", "--d-model", "7"],
         "d_model (7)", "multiple of heads"),
    ]
    for args, where, what in cases:
        rc, _, err = run_cli([*args, "--out", out, "--epochs", "1", "--no-progress"], capsys)
        assert rc == 2, args
        assert err.count("\n") == 1, err
        assert where in err and what in err, err
        assert not out.exists()
