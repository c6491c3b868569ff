"""Tiny evaluation configurations shared by the evaluation and report tests."""

from __future__ import annotations

from pathlib import Path

TINY_CONFIG = """
[run]
jobs = 1

[[sequences]]
phantom = "cine"
seed = 0
n_frames = 40
shape = [48, 48]
frame_period_s = 0.25
splits = {{ train = [1, 16], cv = [17, 28], test = [29, 40] }}

[[sequences]]
phantom = "markers"
seed = 1
duration_s = 30.0
rate_hz = 10.0
splits = {{ train = [1, 100], cv = [101, 200], test = [201, 300] }}

[evaluation]
methods = ["no-prediction", "lms"]
horizons_steps = {horizons}
modes = {modes}
seeds = {seeds}
n_components = [1, 2]
system_latency_ms = 150

[evaluation.grids.lms]
eta = [0.01, 0.05]
k = [4]
"""


def write_config(folder: Path, *, modes: str = '["causal", "reference"]', seeds: str = "[0, 1]",
                 horizons: str = "[1, 2]", extra: str = "") -> Path:
    """Write the tiny configuration into ``folder`` and return its path."""
    path = folder / "tiny.toml"
    path.write_text(TINY_CONFIG.format(modes=modes, seeds=seeds, horizons=horizons) + extra)
    return path
