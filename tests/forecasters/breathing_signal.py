"""A tiny noisy breathing-like multivariate signal for forecaster tests (no phantom dependency)."""

from __future__ import annotations

import numpy as np


def breathing_series(
    n: int = 900,
    *,
    dt_s: float = 0.1,
    p: int = 3,
    noise: float = 0.03,
    seed: int = 0,
) -> np.ndarray:
    """Return ``(n, p)`` samples of a Lujan-type breathing curve seen by ``p`` correlated sensors.

    ``s(t) = cos^4(phi(t) / 2)`` with a period drifting around 4 s and an amplitude varying by
    +-20 %; feature ``j`` is ``a_j s(t - lag_j) + drift + noise`` (noise std ``noise`` in units of
    the peak-to-peak excursion, 1).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n) * dt_s
    period = 4.0 + 0.4 * np.sin(2 * np.pi * t / 37.0 + rng.uniform(0, 2 * np.pi))
    phase = np.cumsum(2 * np.pi * dt_s / period)
    amp = 1.0 + 0.2 * np.sin(2 * np.pi * t / 53.0 + rng.uniform(0, 2 * np.pi))
    out = np.empty((n, p))
    for j in range(p):
        lag = 0.3 * j
        s = np.cos((phase - 2 * np.pi * lag / 4.0) / 2.0) ** 4
        out[:, j] = (1.0 - 0.3 * j) * amp * s + 0.05 * np.sin(2 * np.pi * t / 71.0)
    return out + noise * rng.standard_normal((n, p))
