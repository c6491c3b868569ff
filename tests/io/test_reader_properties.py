"""Property tests (hypothesis) of the readers and validators of issue 17: whatever a sidecar, a
marker CSV or a configuration holds, the result is either correct or a MotionPredictError naming
the file; never another exception, never a silently changed value."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from motionpredict.errors import ConfigurationError, InputFileError, MotionPredictError
from motionpredict.evaluation.config import parse_config, strict_value
from motionpredict.evaluation.store import ResultStore
from motionpredict.io import load
from motionpredict.io.limits import MAX_MARKER_POSITION_MM, MAX_MARKER_STEP_MM
from motionpredict.sequences import PointTrajectories

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=6,
)
_SIDECAR_KEYS = ("frame_period_s", "sampling_hz", "markers", "plausible_position_mm",
                 "plausible_step_mm", "pixel_spacing_mm", "dataset")
_SETTINGS = settings(max_examples=40, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


def _csv(path: Path, pos: np.ndarray, t: np.ndarray) -> Path:
    rows = "".join(f"{float(a)!r},{float(x)!r},{float(y)!r},{float(z)!r}\n"
                   for a, (x, y, z) in zip(t, pos, strict=True))
    path.write_text("t,A_x,A_y,A_z\n" + rows)
    return path


def _walk(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pos = np.cumsum(rng.normal(0, 2.0, (n, 3)), axis=0) + rng.uniform(-1500, 1500, 3)
    return pos, np.arange(n) * 0.1


@_SETTINGS
@given(sidecar=st.dictionaries(st.sampled_from(_SIDECAR_KEYS), _json, max_size=4))
def test_sidecar_values_never_crash(tmp_path_factory, sidecar):
    folder = tmp_path_factory.mktemp("side")
    pos, t = _walk(30, 0)
    path = _csv(folder / "m.csv", pos, t)
    (folder / "sequence.json").write_text(json.dumps(sidecar))
    try:
        traj = load(path)
    except MotionPredictError:
        return
    assert isinstance(traj, PointTrajectories)
    np.testing.assert_allclose(traj.positions[:, 0, :], pos, rtol=0, atol=1e-9)


@_SETTINGS
@given(n=st.integers(2, 60), seed=st.integers(0, 10**6), where=st.floats(0, 1),
       axis=st.integers(0, 2), excess=st.floats(1.0001, 1e6))
def test_plausible_positions_kept_implausible_refused_by_line(tmp_path_factory, n, seed, where,
                                                              axis, excess):
    folder = tmp_path_factory.mktemp("plaus")
    pos, t = _walk(n, seed)
    assume(np.abs(pos).max() < MAX_MARKER_POSITION_MM)
    traj = load(_csv(folder / "ok.csv", pos, t))
    np.testing.assert_allclose(traj.positions[:, 0, :], pos, rtol=0, atol=1e-9)
    k = int(where * (n - 1))
    bad = pos.copy()
    bad[k, axis] = np.sign(pos[k, axis] or 1.0) * MAX_MARKER_POSITION_MM * excess
    with pytest.raises(InputFileError, match=rf"bad\.csv: line {k + 2}: "):
        load(_csv(folder / "bad.csv", bad, t))


@_SETTINGS
@given(seed=st.integers(0, 10**6), jump=st.floats(1.1, 4.0))
def test_jump_between_samples_refused_unless_the_sidecar_allows_it(tmp_path_factory, seed,
                                                                   jump):
    folder = tmp_path_factory.mktemp("jump")
    pos, t = _walk(40, seed)
    pos = np.clip(pos, -1000, 1000)
    pos[20:, 1] += MAX_MARKER_STEP_MM * jump
    assume(np.abs(pos).max() < MAX_MARKER_POSITION_MM)
    path = _csv(folder / "m.csv", pos, t)
    with pytest.raises(InputFileError, match="line 22: A moved"):
        load(path)
    (folder / "sequence.json").write_text(json.dumps(
        {"plausible_step_mm": MAX_MARKER_STEP_MM * jump + 50}))
    assert load(path).positions.shape == (40, 1, 3)


_values = (st.integers(-3, 10**4) | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=4) | st.booleans())


@settings(max_examples=150, deadline=None)
@given(value=_values)
def test_integer_fields_take_only_whole_numbers(value):
    try:
        got = strict_value(value, int, "x.toml: [run] jobs")
    except ConfigurationError as exc:
        assert "x.toml: [run] jobs" in str(exc)
        assert isinstance(value, (str, bool)) or not float(value).is_integer()
        return
    assert not isinstance(value, (str, bool))
    assert got == value and isinstance(got, int)


@settings(max_examples=60, deadline=None)
@given(jobs=_values, steps=st.lists(_values, min_size=1, max_size=3),
       k=st.lists(_values, min_size=1, max_size=3))
def test_config_types_checked_with_the_key_named(jobs, steps, k):
    data = {"run": {"jobs": jobs}, "sequences": [{"phantom": "markers"}],
            "evaluation": {"methods": ["lms"], "horizons_steps": steps,
                           "grids": {"lms": {"k": k}}}}
    try:
        cfg = parse_config(data, base=Path("."), source=Path("c.toml"))
    except ConfigurationError as exc:
        assert str(exc).startswith("c.toml"), exc
        return
    assert cfg.jobs == jobs and cfg.jobs >= 1
    assert cfg.horizons_steps == steps and all(isinstance(s, int) and s >= 1
                                               for s in cfg.horizons_steps)
    assert all(not isinstance(v, (str, bool)) and float(v).is_integer() and v >= 1 for v in k)


def test_store_in_read_only_place_is_read_without_writing(tmp_path, monkeypatch):
    with ResultStore(tmp_path) as st_:
        st_.put("a", {"x": 1}, {"metrics": {"rmse_mm": 1.5}})
    real = sqlite3.connect

    def read_only(database: str, *args: object, **kwargs: object) -> sqlite3.Connection:
        if not kwargs.get("uri"):  # what a read-only folder does to a read-write open
            raise sqlite3.OperationalError("unable to open database file")
        return real(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", read_only)
    before = sorted(p.name for p in tmp_path.iterdir())
    with ResultStore(tmp_path, create=False) as st_:
        assert st_.read_only
        assert [r["result"]["metrics"]["rmse_mm"] for r in st_.rows()] == [1.5]
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    with pytest.raises(InputFileError, match="read-only"):
        ResultStore(tmp_path / "new")


_SECTIONS = {
    "run": ("output", "jobs", "address", "name", "cache"),
    "evaluation": ("methods", "horizons_s", "horizons_steps", "modes", "seeds", "n_components",
                   "round_horizons", "triplet_count", "system_latency_ms", "device", "grids"),
    "registration": ("sigma_lk", "levels", "iterations", "backend"),
}


@settings(max_examples=150, deadline=None)
@given(data=st.fixed_dictionaries(
    {"sequences": st.one_of(_json, st.just([{"phantom": "markers"}]))},
    optional={sect: st.one_of(_json, st.dictionaries(st.sampled_from(keys), _json, max_size=4),
                              st.dictionaries(st.sampled_from(keys), _json, max_size=4).map(
                                  lambda d: {"methods": ["lms"], **d}))
              for sect, keys in _SECTIONS.items()}))
def test_any_configuration_is_parsed_or_refused_naming_the_file(data):
    try:
        parse_config(data, base=Path("."), source=Path("fuzz.toml"))
    except (ConfigurationError, InputFileError) as exc:
        assert "fuzz.toml" in str(exc) or isinstance(exc, InputFileError), exc
