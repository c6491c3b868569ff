"""Two bounds for marker forecasting, per rate and horizon: the white-noise floor and the hindsight
least-squares linear predictor (``../shared/data/markers``, test windows).

White-noise floor
    No forecaster can predict the measurement noise of the target sample. The noise standard
    deviation ``sigma_j`` of each coordinate is estimated from the residual of a local polynomial
    (Savitzky-Golay, ``--window`` samples, order 2; default window 7 at 30 Hz = 0.23 s, 5 at
    10 Hz, 5 at 3.33 Hz) over the test window, corrected by the central leverage ``L_cc`` of the
    filter (for white noise of variance ``sigma^2`` the residual has variance
    ``sigma^2 (1 - L_cc)``)::

        sigma_j^2 = mean(r_j^2) / (1 - L_cc)
        floor     = sqrt(sum over x, y, z of sigma^2, mean over markers) / RMSE(no prediction)

    A curved breathing signal leaves some of itself in the residual, so at coarse sampling this
    over-estimates the noise (the bound is then too high); a noise correlated between samples
    (the 30 Hz series are cubic-spline interpolated 10 Hz data plus fresh Gaussian noise) is
    partly taken as signal (bound too low). It is a rough guide, not a proof.

Hindsight linear predictor
    Ordinary least squares on the test window itself (future included: not a forecaster, an
    upper bound on what any fixed linear predictor could do): the increment
    ``y_{t+h} - y_t`` from ``[1, y_{t-(k-1)s}, ..., y_t]`` (all 9 coordinates), with ``k`` lags
    ``s`` samples apart; the best ``(k, s)`` of a small grid on the test window is reported.

Both are relative to the no-prediction RMSE at the same horizon on the test window (3D marker
positions, mean over the 3 markers), averaged over the sequences.

Usage::

    .venv/bin/python benchmarks/marker_noise_floor.py [--rates 3.33 10 30] [--horizons 1 3 5]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import scipy.io
from scipy.signal import savgol_coeffs, savgol_filter

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "markers"
PERIOD_S = {"3.33": 0.3, "10": 0.1, "30": 1.0 / 30.0}
HORIZONS = {"3.33": list(range(1, 8)), "10": list(range(1, 22)), "30": list(range(3, 64, 3))}
WINDOW = {"3.33": 5, "10": 5, "30": 7}
#: (k lags, stride) grid of the hindsight predictor per rate (about 0.2-1.2 s of history)
LAG_GRID = {
    "3.33": ((1, 1), (2, 1), (4, 1)),
    "10": ((1, 1), (4, 1), (6, 2), (8, 1)),
    "30": ((1, 1), (4, 3), (12, 1), (6, 6)),
}


def load(folder: Path, rate: str) -> tuple[np.ndarray, int]:
    """Return the ``(N, 9)`` series (mm) and the 0-based first test index."""
    y = scipy.io.loadmat(folder / f"resampled_{rate}hz.mat")["org_data"].T.astype(np.float64)
    split = json.loads((folder / "sequence.json").read_text())["splits"][f"{rate}hz"]
    return y, int(split["test_from"]) - 1


def rmse3(err: np.ndarray) -> float:
    """RMSE (mm) of 3D marker errors from ``(n, 9)`` coordinate errors [x1 x2 x3 y1 ... z3]."""
    return float(np.sqrt(np.mean(np.sum(err.reshape(-1, 3, 3) ** 2, axis=1))))


def noise_sd(y: np.ndarray, window: int) -> np.ndarray:
    """Per-coordinate white-noise SD (mm) from the leverage-corrected Savitzky-Golay residual."""
    lev = savgol_coeffs(window, 2)[window // 2]
    res = y - savgol_filter(y, window, 2, axis=0)
    core = res[window : len(y) - window]
    return np.sqrt(np.mean(core**2, axis=0) / (1.0 - lev))


def hindsight_rmse(y: np.ndarray, start: int, h: int, k: int, s: int) -> float:
    """RMSE (mm) of the OLS increment predictor fitted on the test targets themselves."""
    span = (k - 1) * s
    t = np.arange(max(start - h, span), len(y) - h)  # issue times whose target is in the test
    x = np.concatenate([np.ones((len(t), 1))] + [y[t - j * s] for j in range(k)], axis=1)
    target = y[t + h] - y[t]
    coef, *_ = np.linalg.lstsq(x, target, rcond=None)
    return rmse3(x @ coef - target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="markers folder")
    parser.add_argument("--rates", nargs="+", default=list(PERIOD_S), choices=list(PERIOD_S))
    parser.add_argument("--horizons", type=int, nargs="*", help="horizons in samples (default all)")
    args = parser.parse_args(argv)
    folders = sorted(p for p in args.data.glob("markers-*") if (p / "sequence.json").is_file())
    if not folders:
        print(f"{args.data}: no marker sequences found", file=sys.stderr)
        return 2
    for rate in args.rates:
        series = {f.name: load(f, rate) for f in folders}
        sds = {name: noise_sd(y, WINDOW[rate]) for name, (y, _) in series.items()}
        print(f"\n## {rate} Hz; Savitzky-Golay window {WINDOW[rate]}, order 2")
        for name, sd in sds.items():
            print(f"{name}: noise SD per coordinate (mm) {np.array2string(sd, precision=3)}")
        print(
            f"{'h':>3} {'h (s)':>6} {'floor':>7} {'hindsight':>9}   per sequence floor / hindsight"
        )
        for h in args.horizons or HORIZONS[rate]:
            floors, hind = [], []
            for name, (y, start) in series.items():
                nop = rmse3(y[start:] - y[start - h : len(y) - h])
                noise3d = float(np.sqrt(np.mean(np.sum(sds[name].reshape(3, 3) ** 2, axis=0))))
                floors.append(noise3d / nop)
                best = min(hindsight_rmse(y, start, h, k, s) for k, s in LAG_GRID[rate])
                hind.append(best / nop)
            per = " ".join(f"{a:.3f}/{b:.3f}" for a, b in zip(floors, hind, strict=True))
            print(
                f"{h:>3} {h * PERIOD_S[rate]:>6.2f} {np.mean(floors):>7.3f} {np.mean(hind):>9.3f}"
                f"   {per}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
