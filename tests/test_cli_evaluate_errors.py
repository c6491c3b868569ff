"""``evaluate``: failed jobs are named on stderr (not only in results.sqlite); a refused run
leaves no run folder; ``--force`` replaces a finished run whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from motionpredict.cli.main import main
from motionpredict.errors import ConfigurationError
from motionpredict.evaluation import batch


def _config(tmp_path: Path, seeds: str = "[0, 1]") -> Path:
    t = np.arange(120) * 0.1
    rows = "".join(f"{a:.1f},{-300 + 8 * np.sin(a):.4f},5,50\n" for a in t)
    (tmp_path / "m.csv").write_text("t,A_x,A_y,A_z\n" + rows)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[[sequences]]\npath = "{tmp_path / "m.csv"}"\n[evaluation]\n'
                   f'methods = ["lms"]\nhorizons_steps = [1, 2]\nseeds = {seeds}\n'
                   "[evaluation.grids.lms]\nk = [4]\neta = [0.01]\n")
    return cfg


def test_job_errors_are_printed_one_line_each(tmp_path, monkeypatch, capsys):
    def fail(*args: object, **kwargs: object) -> None:
        h = kwargs["horizon_steps"]
        raise ConfigurationError(f"synthetic failure at horizon {h}\nsecond line")

    monkeypatch.setattr(batch, "evaluate_markers", fail)
    rc = main(["evaluate", str(_config(tmp_path)), "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 1
    assert "0 job(s) computed" not in out and "4 job(s) computed" in out and "4 error(s)" in out
    lines = err.strip().splitlines()
    assert sorted(lines) == [
        "motionpredict evaluate: job error (2 job(s)): ConfigurationError: synthetic failure at "
        f"horizon {h} second line" for h in (1, 2)]


def test_force_replaces_a_finished_run_whole(tmp_path, capsys):
    cfg = _config(tmp_path, "[0]")
    run = tmp_path / "c"
    assert main(["evaluate", str(cfg), "--no-progress"]) == 0
    (run / "notes.txt").write_text("left by hand")
    assert main(["evaluate", str(cfg), "--no-progress"]) == 2  # holds results
    assert "--force" in capsys.readouterr().err
    assert main(["evaluate", str(cfg), "--no-progress", "--force"]) == 0
    assert not (run / "notes.txt").exists() and (run / "results.sqlite").is_file()
    assert main(["evaluate", str(cfg), "--no-progress", "--force", "--resume"]) == 2


@pytest.mark.parametrize("bad", ["horizons_steps = [1, 2]", "horizons_steps = [2, 999]"])
def test_refused_run_leaves_no_folder(tmp_path, capsys, bad):
    cfg = _config(tmp_path)
    cfg.write_text(cfg.read_text().replace("horizons_steps = [1, 2]", bad)
                   .replace('k = [4]', 'k = ["four"]' if "999" not in bad else "k = [4]"))
    assert main(["evaluate", str(cfg), "--no-progress"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()
