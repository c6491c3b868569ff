"""The command line: help, exit status 0 on good input, 2 with one line on bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest

from motionpredict.cli.main import COMMAND_MODULES, main


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "motionpredict", *args], capture_output=True, text=True, timeout=120
    )


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in COMMAND_MODULES:
        assert name in out
    assert "mm" in out


@pytest.mark.parametrize("name", COMMAND_MODULES)
def test_each_command_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    assert "usage: motionpredict " + name in capsys.readouterr().out


def test_unknown_command_exits_2_with_one_line() -> None:
    proc = _run("teleport")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_bad_option_value_exits_2_with_one_line() -> None:
    proc = _run("phantom", "--out", "x", "--kind", "pet")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--kind" in lines[0]


def test_missing_input_exits_2_naming_the_path(tmp_path) -> None:
    missing = tmp_path / "nowhere"
    proc = _run("info", str(missing))
    assert proc.returncode == 2
    assert str(missing) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_phantom_then_info_exit_0(tmp_path) -> None:
    out = tmp_path / "ph"
    proc = _run("phantom", "--out", str(out), "--kind", "markers", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    proc = _run("info", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    assert '"n_points": 3' in proc.stdout or '"markers"' in proc.stdout
