"""Grid presets of ``evaluate`` (issue #14 item 3): sizes, configuration keys, the cheap
single-setting job, and the progress bar's ETA arithmetic."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from motionpredict.errors import ConfigurationError
from motionpredict.evaluation import batch as B
from motionpredict.evaluation import grids as G
from motionpredict.evaluation import protocol as P
from motionpredict.evaluation.config import parse_config
from motionpredict.forecasters import available, get

_MARKERS = {"phantom": "markers", "seed": 3, "duration_s": 40.0, "rate_hz": 10.0,
            "splits": {"train": [1, 120], "cv": [121, 240], "test": [241, 400]}}
_CINE = {"phantom": "cine", "seed": 0, "n_frames": 30, "shape": [32, 32],
         "frame_period_s": 0.25, "splits": {"train": [1, 12], "cv": [13, 21], "test": [22, 30]}}


def _cfg(ev: dict, seqs: list[dict] | None = None):
    ev = {"horizons_steps": [2], **ev}
    return parse_config({"sequences": seqs or [_MARKERS], "evaluation": ev}, base=Path("."))


def test_published_preset_is_the_declared_grid() -> None:
    sizes = {m: G.grid_size(m, preset="published") for m in ("aggregator", "rls", "kalman")}
    assert sizes == {"aggregator": 480, "rls": 900, "kalman": 2916}
    for m in available():
        declared = math.prod(len(v) for v in get(m).grid().values())
        assert G.grid_size(m, preset="published") == declared
        assert len(G.method_grid(m, preset="published")) == declared
        assert P.method_grid(m) == G.method_grid(m, preset="published")  # old behaviour kept


def test_default_preset_is_small_and_keeps_declared_defaults() -> None:
    assert G.grid_size("aggregator") == 1
    defaults = {hp.name: hp.default for hp in get("aggregator").hyperparameters}
    assert G.method_grid("aggregator") == [defaults]
    for m in available():
        n = G.grid_size(m)
        assert 1 <= n <= G.SMALL_GRID, (m, n)
        assert n == len(G.method_grid(m))
        names = {hp.name for hp in get(m).hyperparameters}
        for point in G.method_grid(m):
            assert set(point) == names
    # every default setting lies in the declared (published) grid
    for m, points in G.DEFAULT_GRIDS.items():
        declared = get(m).grid()
        for point in points:
            for name, value in point.items():
                assert value in declared[name], (m, name, value)


def test_explicit_entries_replace_the_preset() -> None:
    grid = G.method_grid("rls", {"k": [5, 7], "forgetting": [0.99]})
    assert {p["k"] for p in grid} == {5, 7} and {p["forgetting"] for p in grid} == {0.99}
    # each default setting with each override combination, duplicates dropped
    base = {(p["delta"], p["per_feature"], p["recursive"]) for p in G.method_grid("rls")}
    assert len(grid) == 2 * len(base) == G.grid_size("rls", {"k": [5, 7], "forgetting": [0.99]})
    assert G.grid_size("kalman", {"window": [50, 100]}, "published") == 2916 // 3 * 2
    assert len(G.method_grid("lms", {"eta": [0.1, 0.2], "k": [3]})) == 2
    with pytest.raises(ConfigurationError, match="grid must be one of"):
        G.method_grid("lms", preset="huge")


def test_config_grid_key_global_and_per_method() -> None:
    cfg = _cfg({"methods": ["rls", "lms"], "grid": "published",
                "grids": {"lms": {"grid": "default", "eta": [0.001]}}})
    assert cfg.preset("rls") == "published" and cfg.preset("lms") == "default"
    assert cfg.grids["lms"] == {"eta": [0.001]}  # the preset key is not a hyper-parameter
    jobs = B.build_jobs(cfg, Path("."))
    sizes = {j["method"]: len(G.method_grid(j["method"], j["grid"], j["grid_preset"]))
             for j in jobs}
    assert sizes == {"rls": 900, "lms": G.grid_size("lms", {"eta": [0.001]})}
    plain = _cfg({"methods": ["rls"]})
    assert plain.grid == "default" and plain.preset("rls") == "default"
    for bad in ({"grid": "all"}, {"grids": {"rls": {"grid": 3}}}):
        with pytest.raises(ConfigurationError, match="grid must be one of"):
            _cfg({"methods": ["rls"], **bad})


def test_pca_sizes_default_to_one_unless_asked() -> None:
    assert G.n_components_for("default", None) == [G.DEFAULT_N_COMPONENTS]
    assert G.n_components_for("default", None, 2) == [2]
    assert G.n_components_for("default", None, [1, 4]) == [1, 4]
    assert G.n_components_for("published", None, 2) == [1, 2, 3, 4]
    assert G.n_components_for("published", [2], 3) == [2]
    with pytest.raises(ConfigurationError):
        G.n_components_for("default", None, 0)
    for ev, want in (({}, [3]), ({"grid": "published"}, [1, 2, 3, 4]),
                     ({"n_components": [1, 2]}, [1, 2])):
        jobs = B.build_jobs(_cfg({"methods": ["lms"], **ev}, [_CINE]), Path("."))
        assert {tuple(j["n_components"]) for j in jobs} == {tuple(want)}


def test_single_setting_job_runs_the_forecaster_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = P.forecast_series

    def counting(*a, **kw):
        calls.append(kw["method"])
        return real(*a, **kw)

    monkeypatch.setattr(P, "forecast_series", counting)
    seq = B.load_sequence(_MARKERS)
    grid = G.method_grid("aggregator")
    res = P.evaluate_markers(seq.data, seq.splits, method="aggregator", horizon_steps=3,
                             mode="causal", seed=0, grid=grid)
    assert calls == ["aggregator"] and res.grid_size == 1
    assert res.execution["grid"].startswith("single setting")
    # the same numbers as a search over two copies of the setting (2 grid runs + the final one)
    calls.clear()
    two = P.evaluate_markers(seq.data, seq.splits, method="aggregator", horizon_steps=3,
                             mode="causal", seed=0, grid=[*grid, dict(grid[0])])
    assert len(calls) == 3 and two.grid_size == 2
    assert two.validation_score == pytest.approx(res.validation_score, rel=1e-12)
    assert two.metrics["rmse_mm"] == pytest.approx(res.metrics["rmse_mm"], rel=1e-12)
    assert np.isfinite(res.metrics["rmse_mm"]) and res.validation_score > 0


# ---------------------------------------------------------------------------- ETA
class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _jobs(spec: dict[str, int]) -> list[dict]:
    out = []
    for method, n in spec.items():
        out += [{"key": f"{method}-{i}", "method": method, "kind": "markers"} for i in range(n)]
    return out


def test_eta_is_unknown_until_a_job_finishes_then_weighs_by_method() -> None:
    clock = _Clock()
    eta = B.JobETA(_jobs({"lms": 4, "kalman": 4}), workers=2, clock=clock)
    assert eta.eta_s() is None and eta.text().startswith("ETA unknown")
    eta.finished("lms-0", 2.0)
    # 7 jobs left at the only known cost (2 s), on 2 workers; kalman is a guess
    assert eta.eta_s() == pytest.approx(7 * 2.0 / 2)
    assert eta.untimed() == ["kalman (markers)"] and "not yet timed" in eta.text()
    eta.finished("kalman-0", 50.0)
    eta.finished("lms-1", 4.0)
    # lms: 2 left x mean 3 s; kalman: 3 left x 50 s; 2 workers
    assert eta.eta_s() == pytest.approx((2 * 3.0 + 3 * 50.0) / 2)
    assert eta.untimed() == [] and eta.text() == "ETA 1 min 18 s"
    for k in ("lms-2", "lms-3", "kalman-1", "kalman-2", "kalman-3"):
        eta.finished(k, 1.0)
    assert eta.eta_s() == 0.0


def test_eta_uses_the_clock_when_a_record_has_no_duration() -> None:
    clock = _Clock()
    eta = B.JobETA(_jobs({"rls": 3}), workers=1, clock=clock)
    clock.t += 30.0
    eta.finished("rls-0")
    clock.t += 10.0
    eta.finished("rls-1")
    assert eta.eta_s() == pytest.approx(20.0)  # 1 left x mean of 30 s and 10 s


def test_format_duration() -> None:
    assert [B.format_duration(s) for s in (0.4, 59.6, 61, 3599, 7260)] == [
        "0 s", "1 min 0 s", "1 min 1 s", "59 min 59 s", "2 h 1 min"]
