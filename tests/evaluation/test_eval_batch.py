"""Batch evaluation: configuration errors, local run, resume after SIGKILL, Dask, exports."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eval_helpers import write_config

from motionpredict.cli.main import main
from motionpredict.errors import ConfigurationError, InputFileError
from motionpredict.evaluation.batch import build_jobs, run_evaluation
from motionpredict.evaluation.config import load_config
from motionpredict.evaluation.store import ResultStore
from motionpredict.evaluation.tables import export, job_rows, summary_rows


def test_config_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[evaluation]\nmethods = ["lms"]\n')
    with pytest.raises(ConfigurationError, match=r"bad\.toml.*sequences"):
        load_config(bad)
    bad.write_text('[[sequences]]\nphantom = "cine"\n[evaluation]\nmethods = ["lms"]\n'
                   'modes = ["sideways"]\n')
    with pytest.raises(ConfigurationError, match="sideways"):
        load_config(bad)
    bad.write_text('[[sequences]]\nphantom = "cine"\n[evaluation]\nmethods = ["nope"]\n')
    with pytest.raises(ConfigurationError, match="unknown method 'nope'"):
        load_config(bad)
    bad.write_text('[[sequences]]\nphantom = "cine"\n[evaluation]\nmethods = ["lms"]\n'
                   "[evaluation.grids.lms]\nbogus = [1]\n")
    with pytest.raises(ConfigurationError, match="bogus"):
        load_config(bad)
    bad.write_text("[[sequences]\n")
    with pytest.raises(InputFileError, match="not valid TOML"):
        load_config(bad)
    assert main(["evaluate", str(bad)]) == 2


def test_store_roundtrip(tmp_path: Path) -> None:
    with ResultStore(tmp_path) as st:
        st.put("a", {"x": 1}, {"m": float("nan"), "v": [1.5]})
        st.set_meta("version", "9")
        assert st.done_keys() == {"a"} and len(st) == 1
    with ResultStore(tmp_path, create=False) as st:
        (row,) = list(st.rows())
        assert row["result"] == {"m": None, "v": [1.5]} and st.get_meta("version") == "9"
    with pytest.raises(InputFileError, match="no results store"):
        ResultStore(tmp_path / "elsewhere", create=False)


def test_local_run_resume_and_exports(tiny_config: Path, tmp_path: Path) -> None:
    cfg = load_config(tiny_config)
    run = tmp_path / "run"
    jobs = build_jobs(cfg, run)
    assert len(jobs) == 2 * 2 * 2 * 2 * 2
    assert len({j["key"] for j in jobs}) == len(jobs)
    s = run_evaluation(cfg, run, progress=False)
    assert (s.computed, s.errors) == (32, 0)
    assert len(list((run / "cache").glob("lk-*.npz"))) == 1  # one registration for 16 cine jobs
    with pytest.raises(ConfigurationError, match="--resume"):
        run_evaluation(cfg, run, progress=False)
    again = run_evaluation(cfg, run, resume=True, progress=False)
    assert (again.computed, again.skipped) == (0, 32)
    with ResultStore(run) as st:
        rows = job_rows(list(st.rows()))
    cine = [r for r in rows if r["kind"] == "image-2d"]
    markers = [r for r in rows if r["kind"] == "markers"]
    assert all(r["dvf_mean_mm"] > 0 and 0 < r["ssim_255"] <= 1 for r in cine)
    assert all(r["rmse_mm"] > 0 and "jitter_mm" in r for r in markers)
    # no-prediction does not depend on the mode or the seed; its error grows with the horizon
    nop = {(r["horizon_steps"], r["mode"], r["seed"]): r["dvf_mean_mm"] for r in cine
           if r["method"] == "no-prediction"}
    assert len(set(round(v, 9) for k, v in nop.items() if k[0] == 1)) == 1
    assert nop[(2, "causal", 0)] > nop[(1, "causal", 0)]
    summ = summary_rows(rows)
    assert len(summ) == 16 and all(r["n_seeds"] == 2 for r in summ)
    parsed = list(csv.DictReader(io.StringIO(export(rows, "csv"))))
    assert len(parsed) == 32 and float(parsed[0]["horizon_s"]) > 0
    assert len(json.loads(export(rows, "json"))) == 32
    md = export(summ, "markdown").splitlines()
    assert md[0].startswith("| sequence") and len(md) == 2 + 16


def test_results_cli_formats(tiny_config: Path, tmp_path: Path, capsys) -> None:
    cfg_path = write_config(tmp_path, modes='["causal"]', seeds="[0]")
    run = tmp_path / "r"
    assert main(["evaluate", str(cfg_path), "--out", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["results", str(run), "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 8
    out = tmp_path / "t.md"
    assert main(["results", str(run), "--format", "markdown", "--summary", "-o", str(out)]) == 0
    assert out.read_text().count("\n") == 2 + 8
    assert main(["results", str(tmp_path / "nothing")]) == 2


def test_sigkill_then_resume_loses_nothing(tmp_path: Path) -> None:
    cfg_path = write_config(tmp_path, modes='["causal"]', seeds="[0, 1, 2]")
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "motionpredict", "evaluate", str(cfg_path), "--out", str(run),
           "--no-progress"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    db = run / "results.sqlite"
    deadline = time.monotonic() + 120
    n_before = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                with sqlite3.connect(db) as con:
                    try:
                        n_before = con.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
                    except sqlite3.OperationalError:
                        n_before = 0
                if n_before >= 2:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
        proc.stderr.close()  # type: ignore[union-attr]
    assert proc.returncode == -signal.SIGKILL
    with sqlite3.connect(db) as con:
        before = dict(con.execute("SELECT key, finished_at FROM jobs").fetchall())
    total = 2 * 2 * 2 * 3
    assert 2 <= len(before) < total
    assert main(["evaluate", str(cfg_path), "--out", str(run), "--resume", "--no-progress"]) == 0
    with sqlite3.connect(db) as con:
        after = dict(con.execute("SELECT key, finished_at FROM jobs").fetchall())
    assert len(after) == total
    assert all(after[k] == v for k, v in before.items())  # finished jobs were not recomputed


def test_dask_local_cluster_gives_the_same_numbers(tmp_path: Path) -> None:
    from distributed import LocalCluster

    cfg_path = write_config(tmp_path, modes='["causal"]', seeds="[0]", horizons="[2]")
    cfg = load_config(cfg_path)
    local = tmp_path / "local"
    run_evaluation(cfg, local, progress=False)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                      host="127.0.0.1", dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        s = run_evaluation(cfg, tmp_path / "dask", scheduler=cluster.scheduler_address,
                           progress=False)
    assert (s.computed, s.errors) == (4, 0)
    with ResultStore(local) as a, ResultStore(tmp_path / "dask") as b:
        ra = {r["key"]: r["result"]["metrics"] for r in a.rows()}
        rb = {r["key"]: r["result"]["metrics"] for r in b.rows()}
    assert ra.keys() == rb.keys()
    for k in ra:
        for m in ("dvf_mean_mm", "rmse_mm", "nrmse"):
            if m in ra[k]:
                assert rb[k][m] == pytest.approx(ra[k][m], rel=1e-9)


@pytest.mark.shared_data
def test_folder_of_real_marker_sequences_uses_their_sidecars(shared_data: Path,
                                                             tmp_path: Path) -> None:
    cfg_path = tmp_path / "markers.toml"
    cfg_path.write_text(
        f'[[sequences]]\npath = "{shared_data / "markers"}"\n'
        '[evaluation]\nmethods = ["no-prediction"]\nhorizons_s = [0.5]\n')
    cfg = load_config(cfg_path)
    failures: list = []
    jobs = build_jobs(cfg, tmp_path / "run", failures)
    n_seq = len(list((shared_data / "markers").glob("*/sequence.json")))
    assert len(jobs) + len(failures) == n_seq and len(jobs) >= 1
    assert {j["horizon_steps"] for j in jobs} == {5}
    s = run_evaluation(cfg, tmp_path / "run", progress=False)
    assert s.errors == len(failures)  # unreadable sequences are stored as failed jobs
    with ResultStore(tmp_path / "run") as st:
        rows = list(st.rows())
    assert len(rows) == n_seq
    for row in rows:
        if "error" not in row["result"]:
            sp = row["result"]["splits"]
            assert sp["train"] == [0, 300] and sp["test"][0] == 600  # 10 Hz sidecar splits
            assert sp["source"].startswith("sidecar")
            m = row["result"]["metrics"]
            assert m["rmse_mm"] == pytest.approx(m["no_prediction_rmse_mm"])
