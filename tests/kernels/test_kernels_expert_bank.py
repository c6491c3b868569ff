"""RNN expert banks in the aggregator: one batched state equals the same RNNs as separate members
(float64, to rounding), divergence resets are recorded, pickling mid-run, malformed specs, and the
Triton kernels (interpreted on a CPU) against the twin inside the bank."""

from __future__ import annotations

import os
import pickle

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import numpy as np
import pytest

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters import get, run_online
from motionpredict.kernels.expert_bank import RNNExpertBank, parse_bank_spec

BASE = (("no-prediction", ()), ("rls", (("k", 4),)))
FORECASTER = {"snap1": "snap1", "uoro": "uoro", "dni": "dni", "rtrl": "rtrl", "fixed": "rnn-fixed"}


def _series(t: int = 120, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    tt = np.arange(t)
    y = np.stack([np.sin(0.3 * tt), np.cos(0.21 * tt + 0.4)], axis=1)
    return scale * (y + 0.05 * rng.normal(size=(t, 2)))


def _pair(est, mode, h, etas, seeds=2, clip=100.0, **bank_extra):
    bank = {"estimator": est, "k": 3, "q": 5, "etas": list(etas), "seeds": seeds,
            "clip": clip, "backend": "torch", "device": "cpu", **bank_extra}
    with_bank = get("aggregator")(horizon=h, n_features=2, mode=mode, seed=7, members=BASE,
                                  rnn_banks=(bank,))
    members = list(BASE)
    for eta in etas:
        for _ in range(seeds):
            members.append((FORECASTER[est], (("k", 3), ("q", 5), ("eta", eta), ("clip", clip))))
    separate = get("aggregator")(horizon=h, n_features=2, mode=mode, seed=7,
                                 members=tuple(members))
    return with_bank, separate


@pytest.mark.parametrize(("est", "mode", "h"), [("snap1", "causal", 3), ("snap1", "reference", 2),
                                                ("uoro", "causal", 2), ("dni", "causal", 1),
                                                ("rtrl", "reference", 3)])
def test_bank_equals_separate_members(est, mode, h):
    a, b = _pair(est, mode, h, etas=(0.05, 0.2))
    ys = _series()
    ra, rb = run_online(a, ys), run_online(b, ys)
    np.testing.assert_allclose(ra.predicted, rb.predicted, rtol=0, atol=1e-10, equal_nan=True)
    np.testing.assert_allclose(a.weights(), b.weights(), rtol=0, atol=1e-10)
    assert a.weights().shape == (6, 2)
    assert len(a.member_labels()) == 6 and "eta=0.2, init 1" in a.member_labels()[-1]
    # the experts forecast something else than the last value (their losses differ from it)
    assert np.abs(a.losses[2:] - a.losses[0]).max() > 1e-3


def test_bank_records_divergence_like_members():
    a, b = _pair("snap1", "causal", 2, etas=(0.01, 30.0), seeds=1, clip=1e9)
    ys = _series(scale=50.0)
    ra, rb = run_online(a, ys), run_online(b, ys)
    np.testing.assert_allclose(ra.predicted, rb.predicted, rtol=1e-9, atol=1e-9, equal_nan=True)
    ev_a, ev_b = a.member_events(), b.member_events()
    assert len(ev_a) == len(ev_b) >= 1
    assert [e[1] for e in ev_a] == [e[1] for e in ev_b]
    assert all("eta=30" in e[0] for e in ev_a)
    assert np.all(np.isfinite(ra.predicted[2:]))


def test_bank_pickles_mid_run():
    a, _ = _pair("uoro", "causal", 2, etas=(0.1,))
    ys = _series(60)
    for y in ys[:30]:
        a.step(y)
    c = pickle.loads(pickle.dumps(a))
    for y in ys[30:]:
        np.testing.assert_array_equal(a.step(y), c.step(y))


@pytest.mark.parametrize(
    ("spec", "match"),
    [({"estimator": "snap1", "k": 3, "q": 5}, "missing"),
     ({"estimator": "lstm", "k": 3, "q": 5, "etas": [0.1]}, "estimator"),
     ({"estimator": "snap1", "k": 0, "q": 5, "etas": [0.1]}, ">= 1"),
     ({"estimator": "snap1", "k": 3, "q": 5, "etas": [-0.1]}, "> 0"),
     ({"estimator": "snap1", "k": 3, "q": 5, "etas": [0.1], "dtype": "half"}, "dtype"),
     ({"estimator": "snap1", "k": 3, "q": 5, "etas": [0.1], "backend": "cuda"}, "backend"),
     ({"estimator": "snap1", "k": 3, "q": 5, "etas": [0.1], "lr": 1}, "unknown"),
     ("snap1", "table")],
)
def test_malformed_bank_specs_are_refused(spec, match):
    with pytest.raises(ConfigurationError, match=match):
        parse_bank_spec(spec)
    with pytest.raises(ConfigurationError, match=match):
        get("aggregator")(horizon=1, n_features=2, members=BASE, rnn_banks=(spec,))


def test_bank_needs_one_seed_per_expert():
    spec = parse_bank_spec({"estimator": "snap1", "k": 3, "q": 5, "etas": [0.1, 0.2]})
    with pytest.raises(ConfigurationError, match="2 experts"):
        RNNExpertBank(spec, horizon=1, n_features=2, mode="causal", seeds=[1])


def test_bank_on_triton_kernels_matches_twin():
    pytest.importorskip("triton")
    ys = _series(12)
    out = {}
    for backend in ("torch", "triton"):
        spec = parse_bank_spec({"estimator": "snap1", "k": 2, "q": 4, "etas": [0.1, 0.3],
                                "seeds": 2, "backend": backend, "dtype": "float32"})
        bank = RNNExpertBank(spec, horizon=2, n_features=2, mode="causal",
                             seeds=[3, 4, 5, 6])
        assert bank.choice.name == backend
        out[backend] = np.stack([bank.step(y, None, t) for t, y in enumerate(ys)])
    np.testing.assert_allclose(out["triton"], out["torch"], rtol=1e-4, atol=2e-5)
    assert np.abs(out["torch"][-1] - ys[-1]).max() > 1e-3  # not just the last value
