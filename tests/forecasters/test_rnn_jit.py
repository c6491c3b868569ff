"""The compiled (numba) steps of the online RNNs against the numpy specification (float64).

Every method, both modes, horizons 1 and 3, with clipping active and through divergence resets:
forecasts, weights and the method's state agree step by step to 1e-12 times ``max(1, |value|)``
(the kernels only reorder sums). UORO ``as-coded`` divides rounding differences by its
finite-difference step ``eps = 1e-7``, so it agrees to 1e-8 there.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.forecasters import get, rnn_core, run_online

METHODS = ["rnn-fixed", "snap1", "uoro", "uoro-as-coded", "dni"]


@pytest.fixture(autouse=True)
def _single_thread_blas():
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _series(n: int, p: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    return np.sin(0.3 * t + rng.uniform(0, 3, p)) + 0.05 * rng.normal(size=(n, p))


def _pair(name: str, **kw):
    """The same forecaster twice: compiled path and numpy path."""
    extra = {"variant": "as-coded"} if name.endswith("-as-coded") else {}
    cls = get(name.removesuffix("-as-coded"))
    out = []
    for jit in (True, False):
        f = cls(**kw, **extra)
        f.use_jit = jit
        out.append(f)
    return out


def _state(f) -> dict[str, np.ndarray]:
    """Weights and the method's learned state (estimator in its unscaled form)."""
    st = {"w_ab": f.w_ab, "w_c": f.w_c, "h": f.h, "xi": f.xi}
    if f.name == "snap1":
        st["J"] = f.J
    elif f.name == "uoro":
        st["s"], st["theta"] = f.s, f.theta
    elif f.name == "dni":
        st["A"], st["xt_prev"] = f.A, f.xt_prev
        st["credit_loss"] = np.array([f.credit_loss])
    return st


def _run_both(name, y, *, atol, **kw):
    a, b = _pair(name, **kw)
    assert a.use_jit and not b.use_jit
    h = kw["horizon"]
    for t in range(len(y)):
        look = y[t + h] if t + h < len(y) else None
        pa, pb = a.step(y[t], lookahead=look), b.step(y[t], lookahead=look)
        scale = max(1.0, float(np.abs(pb).max()))
        np.testing.assert_allclose(pa, pb, rtol=0, atol=atol * scale, err_msg=f"forecast at t={t}")
        sa, sb = _state(a), _state(b)
        for key in sb:
            finite = np.abs(sb[key])[np.isfinite(sb[key])]
            scale = max(1.0, float(finite.max(initial=0.0)))
            np.testing.assert_allclose(
                sa[key], sb[key], rtol=0, atol=atol * scale, err_msg=f"{key} at t={t}"
            )
    assert [(e.step, e.reason) for e in a.events] == [(e.step, e.reason) for e in b.events]
    return a, b


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("mode", ["causal", "reference"])
@pytest.mark.parametrize("h", [1, 3])
def test_compiled_step_equals_numpy_spec_with_clipping(name: str, mode: str, h: int) -> None:
    y = _series(90, 3, seed=h)
    kw = {"horizon": h, "n_features": 3, "mode": mode, "seed": 2, "k": 4, "q": 11, "eta": 0.3}
    atol = 1e-8 if name.endswith("as-coded") else 1e-12
    clipped, _ = _run_both(name, y, atol=atol, clip=0.05, **kw)
    assert not clipped.events
    # clipping is active: the same (compiled) run without it ends elsewhere
    free, _ = _pair(name, clip=1e9, **kw)
    for t in range(len(y)):
        free.step(y[t], lookahead=y[t + h] if t + h < len(y) else None)
    assert np.abs(free.w_c - clipped.w_c).max() > 1e-6
    if name != "rnn-fixed":
        assert np.abs(free.w_ab - clipped.w_ab).max() > 1e-6


@pytest.mark.parametrize("name", ["snap1", "uoro", "dni", "rnn-fixed"])
@pytest.mark.parametrize("mode", ["causal", "reference"])
def test_compiled_step_equals_numpy_spec_at_vector_sizes(name: str, mode: str) -> None:
    """q = 37, m = 1 + 6 * 5: loops long enough for the vectorised bodies and their remainders."""
    y = _series(40, 5, seed=7)
    kw = {"horizon": 2, "n_features": 5, "mode": mode, "seed": 1, "k": 6, "q": 37, "eta": 0.05}
    _run_both(name, y, atol=1e-12, clip=0.5, **kw)


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("mode", ["causal", "reference"])
def test_compiled_step_resets_like_numpy_spec(name: str, mode: str) -> None:
    """A huge learning rate on a large signal diverges: same events, same forecasts after."""
    y = 40.0 * _series(60, 2, seed=3)
    kw = {"horizon": 2, "n_features": 2, "mode": mode, "seed": 4, "k": 3, "q": 6}
    atol = 1e-8 if name.endswith("as-coded") else 1e-12
    a, _ = _run_both(name, y, atol=atol, eta=30.0, clip=1e9, **kw)
    assert a.events, "the run must diverge for this test to mean anything"


@pytest.mark.parametrize("name", ["snap1", "uoro", "dni", "rnn-fixed"])
def test_poked_state_is_detected_by_compiled_step(name: str) -> None:
    y = _series(30, 2)
    f = get(name)(horizon=2, n_features=2, seed=0, k=3, q=6)
    assert f.use_jit
    for s in y[:10]:
        f.step(s)
    f.w_ab[0, 0] = 2e4  # norm > 1e4 while the forecast stays finite (tanh saturates)
    out = f.step(y[10])
    np.testing.assert_array_equal(out, y[10])
    assert len(f.events) == 1 and "exploded" in f.events[0].reason and f.events[0].step == 10


def test_non_finite_sample_raises_and_changes_nothing() -> None:
    f = get("snap1")(horizon=2, n_features=2, k=3, q=4)
    f.step(np.array([0.1, 0.2]))
    before = pickle.dumps(f)
    with pytest.raises(ValidationError, match="sample 1"):
        f.step(np.array([np.nan, 0.0]))
    assert pickle.dumps(f) == before and f.t == 0


@pytest.mark.parametrize("name", ["snap1", "uoro", "dni"])
def test_pickle_mid_run_compiled(name: str) -> None:
    """Includes UORO's pool of sign draws (half used at the pickle)."""
    y = _series(80, 2)
    f = get(name)(horizon=3, n_features=2, seed=5, k=3, q=64)  # UORO pool: 256 steps
    for s in y[:40]:
        f.step(s)
    g = pickle.loads(pickle.dumps(f))
    for s in y[40:]:
        np.testing.assert_array_equal(f.step(s), g.step(s))


def test_uoro_signs_are_the_numpy_stream() -> None:
    """The pooled draws equal one ``rng.integers(0, 2, q)`` per step (odd q too)."""
    f = get("uoro")(horizon=1, n_features=1, seed=9, k=2, q=7)
    f._refill_signs()
    ref = np.random.default_rng(9)
    ref.normal(size=7 * 7 + 7 * 3 + 7)  # W_a, W_b (m = 3), W_c as drawn by init_weights
    for _ in range(f._signs.shape[0] + 3):
        np.testing.assert_array_equal(f.draw_signs(), ref.integers(0, 2, size=7) * 2.0 - 1.0)


def test_use_jit_switch() -> None:
    f = get("snap1")(horizon=1, n_features=1, k=2, q=3)
    assert f.use_jit is rnn_core.JIT_DEFAULT
    f.use_jit = False
    f.step(np.array([0.3]))
    with pytest.raises(ConfigurationError, match="before step 0"):
        f.use_jit = True
    f.use_jit = False  # unchanged: allowed
    assert get("rtrl")(horizon=1, n_features=1, k=2, q=3).use_jit is False  # no compiled step


def test_module_default_can_turn_the_compiled_path_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rnn_core, "JIT_DEFAULT", False)
    f = get("dni")(horizon=1, n_features=1, k=2, q=3)
    assert f.use_jit is False
    run = run_online(f, _series(20, 1))
    assert np.isfinite(run.predicted[1:]).all()
