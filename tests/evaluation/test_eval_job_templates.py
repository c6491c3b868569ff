"""Per-job file templates in evaluation grids (``{sequence}``, ``{horizon_steps}``, ...): relative
paths resolved against the configuration's folder, unknown placeholders refused when the file is
read, and a leave-one-sequence-out population transformer run through the batch evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from motionpredict.errors import ConfigurationError
from motionpredict.evaluation.batch import (
    build_jobs,
    fill_job_fields,
    load_sequence,
    run_evaluation,
)
from motionpredict.evaluation.config import load_config
from motionpredict.evaluation.store import ResultStore
from motionpredict.evaluation.tables import job_rows
from motionpredict.forecasters import Standardizer
from motionpredict.forecasters.transformer import train_population

TINY = {"k": 4, "d_model": 8, "epochs": 2, "dropout": 0.0, "lr": 5e-3}

CONFIG = """
[run]
jobs = 1

[[sequences]]
phantom = "markers"
seed = 1
duration_s = 30.0
rate_hz = 10.0
splits = {{ train = [1, 100], cv = [101, 200], test = [201, 300] }}

[[sequences]]
phantom = "markers"
seed = 2
duration_s = 30.0
rate_hz = 10.0
splits = {{ train = [1, 100], cv = [101, 200], test = [201, 300] }}

[evaluation]
methods = ["transformer-population"]
horizons_steps = [2, 3]
modes = ["causal"]
seeds = [0]

[evaluation.grids.transformer-population]
weights_path = ["{template}"]
k = [4]
d_model = [8]
layers = [1]
dropout = [0.0]
lr = [5e-3]
epochs = [2]
"""


def _write(folder: Path, template: str) -> Path:
    path = folder / "pop.toml"
    path.write_text(CONFIG.format(template=template))
    return path


def test_templates_resolve_against_the_config_folder(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, "weights/pop-{sequence}-h{horizon_steps}.pt"))
    (value,) = cfg.grids["transformer-population"]["weights_path"]
    assert value == str(tmp_path / "weights" / "pop-{sequence}-h{horizon_steps}.pt")
    job = {"sequence_name": "p-1", "horizon_steps": 3, "horizon_s": 0.3, "mode": "causal",
           "seed": 0, "method": "transformer-population"}
    (point,) = fill_job_fields([{"weights_path": value, "k": 4}], job)
    assert point == {"weights_path": str(tmp_path / "weights" / "pop-p-1-h3.pt"), "k": 4}
    (point,) = fill_job_fields([{"weights_path": "{horizon_ms}ms-{mode}-{seed}"}], job)
    assert point["weights_path"] == "300ms-causal-0"


@pytest.mark.parametrize("template", ["pop-{patient}.pt", "pop-{sequence.pt", "pop-{0}.pt"])
def test_unknown_or_malformed_placeholders_are_refused_on_load(tmp_path: Path,
                                                                template: str) -> None:
    with pytest.raises(ConfigurationError, match=r"pop\.toml.*weights_path"):
        load_config(_write(tmp_path, template))


def test_leave_one_out_population_weights_through_the_evaluation(tmp_path: Path) -> None:
    """Each sequence is forecast with weights trained on the other one only; a file trained at
    another sampling period is refused (the evaluation passes the series' period)."""
    cfg = load_config(_write(tmp_path, "pop-without-{sequence}-h{horizon_steps}.pt"))
    seqs = [load_sequence(s) for s in cfg.sequences]
    names = [s.name for s in seqs]
    assert len(set(names)) == 2
    series = []
    for s in seqs:
        y = s.data.as_series()
        series.append(Standardizer(y[s.splits.train[0]: s.splits.train[1]]).transform(y))
    for h in (2, 3):
        for i, name in enumerate(names):
            others = [z for j, z in enumerate(series) if j != i]
            train_population(others, tmp_path / f"pop-without-{name}-h{h}.pt", horizon=h,
                             frame_period_s=0.1, **TINY)
    run = tmp_path / "run"
    summary = run_evaluation(cfg, run, progress=False)
    assert (summary.computed, summary.errors) == (4, 0)
    with ResultStore(run) as st:
        rows = job_rows(list(st.rows()))
    assert len(rows) == 4
    for r in rows:
        assert f"pop-without-{r['sequence']}-h{r['horizon_steps']}.pt" in r["params"]
        assert np.isfinite(r["rmse_mm"]) and r["rmse_mm"] > 0
    assert len(build_jobs(cfg, run)) == 4
    # weights trained at 30 Hz: every job is refused with the file named
    for h in (2, 3):
        for i, name in enumerate(names):
            train_population([series[1 - i]], tmp_path / f"pop-without-{name}-h{h}.pt",
                             horizon=h, frame_period_s=1 / 30, **TINY)
    bad = run_evaluation(cfg, tmp_path / "run30", progress=False)
    assert bad.errors == 4
    with ResultStore(tmp_path / "run30") as st:
        errors = [row["result"].get("error", "") for row in st.rows()]
    assert all("pop-without-" in e and "0.0333" in e for e in errors), errors
