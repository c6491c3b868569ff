"""Batched RNN grid searches (``rnn_backend="batched"``) give the loop's numbers: validation
scores, chosen setting and test metrics, on a marker phantom and on a cine PCA-weight series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from eval_helpers import write_config

from motionpredict.cli.main import main
from motionpredict.errors import ConfigurationError
from motionpredict.evaluation import protocol as P
from motionpredict.evaluation.config import load_config
from motionpredict.phantom import make_cine, make_markers


def _untimed(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if not k.endswith("_ms")}


def _assert_same(loop: P.JobResult, bat: P.JobResult) -> None:
    assert bat.chosen == loop.chosen
    assert bat.validation_score == pytest.approx(loop.validation_score, rel=1e-12, abs=1e-12)
    a, b = _untimed(loop.metrics), _untimed(bat.metrics)
    assert a.keys() == b.keys()
    for k in a:
        assert b[k] == pytest.approx(a[k], rel=1e-12, abs=1e-12), k
    np.testing.assert_allclose(np.array(bat.traces["predicted"], dtype=float),
                               np.array(loop.traces["predicted"], dtype=float),
                               rtol=0, atol=1e-10)
    assert loop.execution["grid"] == "loop"
    assert bat.execution["grid"].startswith("batched: torch")


@pytest.fixture(scope="module")
def markers():
    ph = make_markers(seed=3, duration_s=24.0, rate_hz=10.0)
    splits = P.Splits((0, 90), (90, 170), (170, 240), 90)
    return ph.sequence, splits


@pytest.mark.parametrize(("method", "mode"), [("snap1", "causal"), ("uoro", "reference"),
                                              ("dni", "causal"), ("rtrl", "reference")])
def test_markers_batched_equals_loop(markers, method, mode):
    traj, splits = markers
    grid = P.method_grid(method, {"k": [3], "q": [4, 6], "eta": [0.005, 0.02, 0.08]})
    kw = {"method": method, "horizon_steps": 2, "mode": mode, "seed": 1, "grid": grid}
    loop = P.evaluate_markers(traj, splits, **kw)
    bat = P.evaluate_markers(traj, splits, rnn={"rnn_backend": "batched", "seeds": [0, 1, 2]},
                             **kw)
    _assert_same(loop, bat)
    # the validation scores of the grid really differ (the search is not degenerate)
    preds, _ = P.grid_forecasts(traj.as_series(), grid, method=method, horizon=2, mode=mode,
                                seed=1, splits=splits,
                                execution=P.RNNExecution(rnn_backend="batched"))
    val = slice(*splits.validation)
    rmse = [float(np.sqrt(np.mean((p[val] - traj.as_series()[val]) ** 2))) for p in preds]
    assert max(rmse) - min(rmse) > 1e-3


def test_every_grid_point_matches_forecast_series(markers):
    traj, _ = markers
    series = traj.as_series()[:120]
    sp = P.Splits((0, 50), (50, 90), (90, 120), 50)
    # init_std = 0.05 is not what the kernels draw: that point must fall back to the loop
    grid = [{"k": 2, "q": 5, "eta": 0.03}, {"k": 3, "q": 5, "eta": 0.01, "clip": 0.5},
            {"k": 2, "q": 5, "eta": 0.01, "init_std": 0.05}, {"k": 2, "q": 5, "eta": 0.1}]
    ex = P.RNNExecution(rnn_backend="batched", seeds=(4, 7))
    got, how = P.grid_forecasts(series, grid, method="rnn-fixed", horizon=3, mode="causal",
                                seed=7, splits=sp, execution=ex)
    assert how.startswith("batched")
    assert not P.batchable("rnn-fixed", grid[2]) and P.batchable("rnn-fixed", grid[1])
    for params, pred in zip(grid, got, strict=True):
        ref, _, _ = P.forecast_series(series, method="rnn-fixed", horizon=3, mode="causal",
                                      seed=7, params=params, splits=sp)
        np.testing.assert_array_equal(np.isnan(pred), np.isnan(ref))
        np.testing.assert_allclose(pred[3:], ref[3:], rtol=0, atol=1e-10)
    # a non-RNN method ignores the option
    lms, how = P.grid_forecasts(series, [{"k": 2, "eta": 0.01}], method="lms", horizon=3,
                                mode="causal", seed=0, splits=sp, execution=ex)
    assert how == "loop" and lms[0].shape == series.shape


def test_cine_pca_weights_batched_equals_loop():
    ph = make_cine(seed=2, n_frames=36, shape=(40, 40))
    seq = ph.sequence
    fields = np.asarray(ph.true_fields.fields, dtype=np.float32)
    data = P.CineData(sequence=seq, fields_mm=fields, register_ms=np.zeros(seq.n_frames),
                      splits=P.Splits((0, 14), (14, 26), (26, 36), 14),
                      roi=np.asarray(ph.tumour_mask, dtype=bool))
    grid = P.method_grid("snap1", {"k": [2, 3], "q": [5], "eta": [0.01, 0.04, 0.15]})
    kw = {"method": "snap1", "horizon_steps": 1, "mode": "causal", "seed": 0, "grid": grid,
          "n_components": [1, 2], "triplet_count": 2}
    loop, arts_l = P.evaluate_cine(data, **kw)
    bat, arts_b = P.evaluate_cine(data, rnn=P.RNNExecution(rnn_backend="batched"), **kw)
    _assert_same(loop, bat)
    assert bat.grid_size == 12
    np.testing.assert_array_equal(arts_l["triplet_predicted"], arts_b["triplet_predicted"])


def test_execution_options_are_validated(monkeypatch, tmp_path: Path):
    with pytest.raises(ConfigurationError, match="rnn_backend"):
        P.RNNExecution.from_mapping({"rnn_backend": "fast"})
    with pytest.raises(ConfigurationError, match="device"):
        P.check_device("tpu")
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigurationError, match="no CUDA GPU"):
        P.check_device("cuda")
    cfg = load_config(write_config(tmp_path, extra='\n'))
    assert (cfg.device, cfg.rnn_backend) == ("cpu", "loop")
    assert cfg.rnn_execution() == {"device": "cpu", "rnn_backend": "loop", "seeds": [0, 1]}
    path = write_config(tmp_path)
    text = path.read_text().replace("system_latency_ms = 150",
                                    'system_latency_ms = 150\ndevice = "cuda"')
    path.write_text(text)
    cfg = load_config(path)
    assert (cfg.device, cfg.rnn_backend) == ("cuda", "batched")
    path.write_text(text.replace('device = "cuda"', 'device = "cuda"\nrnn_backend = "loop"'))
    with pytest.raises(ConfigurationError, match="rnn_backend"):
        load_config(path)
    path.write_text(text.replace('device = "cuda"', 'device = "gpu"'))
    with pytest.raises(ConfigurationError, match="device"):
        load_config(path)


def test_cli_device_cuda_without_gpu_is_one_line_exit_2(monkeypatch, tmp_path: Path, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = write_config(tmp_path)
    rc = main(["evaluate", str(cfg), "--device", "cuda", "--no-progress",
               "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and "cuda" in err
    assert not (tmp_path / "run").exists()


MARKER_CONFIG = """
[run]
jobs = 1

[[sequences]]
phantom = "markers"
seed = 1
duration_s = 20.0
rate_hz = 10.0
splits = {{ train = [1, 80], cv = [81, 150], test = [151, 200] }}

[evaluation]
methods = ["snap1", "lms"]
horizons_steps = [2]
seeds = [0, 1, 2]
{extra}
[evaluation.grids.snap1]
k = [3]
q = [4, 5]
eta = [0.01, 0.05]

[evaluation.grids.lms]
k = [3]
"""


def test_batch_run_with_batched_rnns_stores_the_loop_numbers(tmp_path: Path, monkeypatch):
    from motionpredict.evaluation.batch import run_evaluation
    from motionpredict.evaluation.store import ResultStore
    from motionpredict.kernels import run_batched as real

    calls = []

    def counting(*args, **kw):
        calls.append(list(kw["seeds"]))
        return real(*args, **kw)

    monkeypatch.setattr("motionpredict.kernels.run_batched", counting)
    P._BATCH_MEMO.clear()
    rows = {}
    for name, extra in (("loop", ""), ("batched", 'rnn_backend = "batched"')):
        path = tmp_path / f"{name}.toml"
        path.write_text(MARKER_CONFIG.format(extra=extra))
        s = run_evaluation(load_config(path), tmp_path / name, progress=False)
        assert (s.computed, s.errors) == (6, 0)
        with ResultStore(tmp_path / name) as st:
            rows[name] = {r["key"]: r for r in st.rows()}
    # the same job keys: the option says how a job runs, not what it computes
    assert rows["loop"].keys() == rows["batched"].keys()
    # one batched call per (k, q) group holds every seed; the other seeds' jobs reuse it
    assert calls == [[0, 1, 2], [0, 1, 2]]
    for key, a in rows["loop"].items():
        b = rows["batched"][key]
        ra, rb = a["result"], b["result"]
        assert rb["chosen"] == ra["chosen"]
        assert rb["validation_score"] == pytest.approx(ra["validation_score"], rel=1e-12)
        assert _untimed(rb["metrics"]) == pytest.approx(_untimed(ra["metrics"]), rel=1e-12)
        batched = a["spec"]["method"] == "snap1"
        assert rb["execution"]["grid"].startswith("batched") == batched
        assert b["spec"]["rnn"] == {"device": "cpu", "rnn_backend": "batched",
                                    "seeds": [0, 1, 2]}


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("method", ["snap1", "uoro", "rtrl"])
def test_markers_on_cuda_equal_loop(markers, method):
    traj, splits = markers
    grid = P.method_grid(method, {"k": [3], "q": [4, 6], "eta": [0.005, 0.02, 0.08]})
    kw = {"method": method, "horizon_steps": 2, "mode": "causal", "seed": 0, "grid": grid}
    loop = P.evaluate_markers(traj, splits, **kw)
    gpu = P.evaluate_markers(traj, splits, rnn={"device": "cuda", "seeds": [0, 1]}, **kw)
    assert gpu.execution["grid"].startswith("batched:") and "cuda" in gpu.execution["grid"]
    assert gpu.chosen == loop.chosen
    assert gpu.validation_score == pytest.approx(loop.validation_score, rel=1e-10)
    assert _untimed(gpu.metrics) == pytest.approx(_untimed(loop.metrics), rel=1e-10)
