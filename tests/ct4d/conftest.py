"""Small shared fixtures of the 4DCT tests (tiny phantom, seconds to build)."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.phantom import PhantomCT, make_ct4d


@pytest.fixture(scope="session")
def tiny_ct() -> PhantomCT:
    """A 24x32x32 CT phantom, 10 phases, exact fields."""
    return make_ct4d(seed=3, shape=(24, 32, 32), spacing_mm=(2.5, 2.0, 2.0), amplitude_mm=10.0,
                     noise_hu=5.0)


@pytest.fixture()
def rng() -> np.random.Generator:
    """Seeded generator."""
    return np.random.default_rng(1234)
