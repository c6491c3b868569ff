"""Spread over seeds, Wilcoxon and the breathing-cycle bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.errors import ValidationError
from motionpredict.evaluation import stats as S


def test_spread() -> None:
    s = S.spread([1.0, 2.0, 3.0, float("nan")])
    assert (s.mean, s.n, s.min, s.max) == (2.0, 3, 1.0, 3.0)
    assert s.std == pytest.approx(1.0)
    assert S.spread([]).n == 0


def test_wilcoxon_detects_a_consistent_shift() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(2.0, 0.3, 12)
    _, p_shift = S.wilcoxon_paired(a, a - 0.5)
    assert p_shift < 0.01
    assert S.wilcoxon_paired(a, a) == (0.0, 1.0)
    with pytest.raises(ValidationError):
        S.wilcoxon_paired([1.0], [2.0])


def test_breathing_cycles_and_bootstrap() -> None:
    t = np.arange(200) * 0.25
    trace = np.sin(2 * np.pi * t / 4.0)  # 4 s period, 16 samples per cycle
    starts = S.breathing_cycles(trace)
    assert len(starts) == 1 + 12 or len(starts) == 1 + 13
    assert np.all(np.diff(starts[1:]) == 16)
    rng = np.random.default_rng(1)
    diff = 0.3 + 0.2 * rng.normal(size=200)
    mean, lo, hi = S.cycle_bootstrap(diff, trace, n_boot=500)
    assert lo < mean < hi and lo < 0.3 < hi and hi - lo < 0.2
