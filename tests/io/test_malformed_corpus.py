"""A generated corpus of malformed inputs, run through the command line (issue 17).

Every case runs ``motionpredict <command> ...`` in-process (a few through a subprocess) and must end
with exit status 2, exactly one line on stderr naming the file (or option / key) and the problem,
no traceback, no raw bytes of the input, and nothing created or changed in the working folder.
The corpus is written into a temporary folder by this module; nothing is stored in the repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
import pytest
from io_helpers import write_cine_folder, write_frame
from pydicom.dataset import Dataset

from motionpredict.cli.main import main

RANDOM = bytes(np.random.default_rng(17).integers(0, 256, 600, dtype=np.uint8))


# ----------------------------------------------------------------------------- the corpus
def _markers(path: Path, pos: np.ndarray, t: np.ndarray) -> Path:
    rows = "".join(f"{a:.3f},{x:.6g},{y:.6g},{z:.6g}\n"
                   for a, (x, y, z) in zip(t, pos, strict=True))
    path.write_text("t,A_x,A_y,A_z\n" + rows)
    return path


def _good_positions(n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(n) * 0.1
    pos = np.stack([-300 + 8 * np.sin(2 * np.pi * t / 4), 0 * t + 5, 50 + 3 * np.cos(t)], 1)
    return pos, t


def _dicom_with(path: Path, **changes: object) -> None:
    ds = pydicom.dcmread(path)
    for k, v in changes.items():
        setattr(ds, k, v)
    ds.save_as(path)


def _compressed_syntax_over_raw(folder: Path) -> None:
    """Rewrite each file declaring JPEG 2000 while its pixel data stay raw (native)."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info

    for f in sorted(folder.iterdir()):
        ds = pydicom.dcmread(f)
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.90"
        fp = DicomBytesIO()
        fp.write(b"\0" * 128 + b"DICM")
        write_file_meta_info(fp, ds.file_meta)
        fp.is_little_endian, fp.is_implicit_VR = True, False
        write_dataset(fp, Dataset(dict(ds.items())))
        f.write_bytes(fp.getvalue())


def build_corpus(root: Path) -> dict[str, Path]:
    """Write every malformed input; return name -> path."""
    c: dict[str, Path] = {}
    root.mkdir(parents=True, exist_ok=True)
    # DICOM
    d = root / "dicom-huge-header"
    d.mkdir()
    write_frame(d / "a.dcm", np.zeros((4, 4)), PixelSpacing=[1, 1])
    _dicom_with(d / "a.dcm", Rows=65535, Columns=65535)
    c["dicom-huge-header"] = d
    d = root / "dicom-half-truncated"
    write_cine_folder(d, 6)
    raw = (d / "image4.dcm").read_bytes()
    (d / "image4.dcm").write_bytes(raw[: len(raw) - 60])  # half of the 112 pixel bytes
    c["dicom-half-truncated"] = d
    d = root / "dicom-header-cut"
    write_cine_folder(d, 6)
    raw = (d / "image2.dcm").read_bytes()
    (d / "image2.dcm").write_bytes(raw[:200])
    c["dicom-header-cut"] = d
    d = root / "dicom-no-pixels"
    write_cine_folder(d, 4)
    raw = (d / "image3.dcm").read_bytes()
    (d / "image3.dcm").write_bytes(raw[: raw.rfind(b"\xe0\x7f\x10\x00")])
    c["dicom-no-pixels"] = d
    d = root / "dicom-j2k-over-raw"
    write_cine_folder(d, 5)
    _compressed_syntax_over_raw(d)
    c["dicom-j2k-over-raw"] = d
    d = root / "dicom-mixed-series"
    d.mkdir()
    for s in range(31):
        for k in range(2):
            write_frame(d / f"s{s}_{k}.dcm", np.full((4 + s % 2, 4), k), series_uid=f"1.2.3.{s}",
                        PixelSpacing=[1, 1], InstanceNumber=k + 1)
    c["dicom-mixed-series"] = d
    d = root / "dicom-empty"
    d.mkdir()
    c["dicom-empty"] = d
    # marker CSV
    pos, t = _good_positions()
    c["csv-random-bytes"] = root / "random.csv"
    c["csv-random-bytes"].write_bytes(RANDOM)
    bad = pos.copy()
    bad[60, 0] = -48_800_000.0
    c["csv-48km"] = _markers(root / "glitch-48km.csv", bad, t)
    jump = pos.copy()
    jump[70:, 2] += 500.0
    c["csv-jump"] = _markers(root / "jump-500mm.csv", jump, t)
    c["csv-one-row"] = _markers(root / "one-row.csv", pos[:1], t[:1])
    c["csv-header-only"] = root / "header-only.csv"
    c["csv-header-only"].write_text("t,A_x,A_y,A_z\n")
    c["csv-nan"] = root / "nan.csv"
    c["csv-nan"].write_text(_markers(root / "tmp.csv", pos, t).read_text().replace(
        "\n0.500,", "\nnan,", 1))
    (root / "tmp.csv").unlink()
    c["csv-backwards"] = _markers(root / "backwards.csv", pos, t[::-1].copy())
    c["csv-utf16"] = root / "utf16.csv"
    c["csv-utf16"].write_bytes("t,A_x,A_y,A_z\n0,1,2,3\n0.1,1,2,3\n".encode("utf-16"))
    side = root / "sidecar-bad-limit"
    side.mkdir()
    _markers(side / "m.csv", pos, t)
    (side / "sequence.json").write_text('{"plausible_position_mm": -5}')
    c["sidecar-bad-limit"] = side / "m.csv"
    side = root / "sidecar-garbage"
    side.mkdir()
    _markers(side / "m.csv", pos, t)
    (side / "sequence.json").write_bytes(RANDOM[:40])
    c["sidecar-garbage"] = side / "m.csv"
    # MetaImage
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.zeros((6, 20, 20), np.float32))
    sitk.WriteImage(img, str(root / "whole.mha"))
    raw = (root / "whole.mha").read_bytes()
    (root / "whole.mha").unlink()
    c["mha-truncated"] = root / "truncated.mha"
    c["mha-truncated"].write_bytes(raw[:-500])
    c["mha-huge-dims"] = root / "huge-dims.mha"
    c["mha-huge-dims"].write_bytes(raw.replace(b"DimSize = 20 20 6", b"DimSize = 90000 90000 900"))
    c["mha-random"] = root / "random.mha"
    c["mha-random"].write_bytes(RANDOM)
    c["nowhere"] = root / "does-not-exist"
    return c


#: Inputs and the words the one-line message must hold (besides the file's name).
INPUT_CASES = {
    "dicom-huge-header": ["65535"],
    "dicom-half-truncated": ["image4.dcm", "truncated"],
    "dicom-header-cut": ["image2.dcm"],
    "dicom-no-pixels": ["image3.dcm", "PixelData"],
    "dicom-j2k-over-raw": ["transfer syntax", "JPEG 2000"],
    "dicom-mixed-series": ["series", "more"],
    "dicom-empty": ["empty"],
    "csv-random-bytes": ["binary"],
    "csv-48km": ["line 62", "plausible"],
    "csv-jump": ["line 72", "plausible"],
    "csv-one-row": ["at least 2 samples"],
    "csv-header-only": [],
    "csv-nan": [],
    "csv-backwards": [],
    "csv-utf16": [],
    "sidecar-bad-limit": ["sequence.json", "plausible_position_mm"],
    "sidecar-garbage": ["sequence.json"],
    "mha-truncated": ["truncated"],
    "mha-huge-dims": ["90000"],
    "mha-random": [],
    "nowhere": [],
}


@dataclass
class Run:
    rc: int | str
    err: str
    out: str
    before: dict[str, tuple[int, int]] = field(default_factory=dict)
    after: dict[str, tuple[int, int]] = field(default_factory=dict)


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` (hidden ones too) with size and modification time."""
    out = {}
    for p in root.rglob("*"):
        st = p.lstat()
        out[str(p.relative_to(root))] = ((st.st_size, st.st_mtime_ns) if p.is_file()
                                         else (-1, 0))  # a folder's mtime: entries come and go
    return out


def run_cli(capsys: pytest.CaptureFixture[str], root: Path, argv: list[str]) -> Run:
    before = _tree(root)
    capsys.readouterr()
    try:
        rc: int | str = main(argv)
    except SystemExit as exc:  # argparse
        rc = exc.code if isinstance(exc.code, int) else str(exc.code)
    cap = capsys.readouterr()
    return Run(rc, cap.err, cap.out, before, _tree(root))


def assert_refused(r: Run, must: list[str]) -> None:
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    assert r.rc == 2, (r.rc, r.err)
    assert len(lines) == 1, r.err
    line = lines[0]
    assert "Traceback" not in r.err and "Error:" not in line.split("error:", 1)[0]
    assert line.startswith("motionpredict ") and " error: " in line
    assert len(line) < 600, f"{len(line)} characters"
    assert all(c.isprintable() for c in line)
    for word in must:
        assert word.lower() in line.lower(), (word, line)
    assert r.after == r.before, sorted(set(r.after) ^ set(r.before)) or "files changed"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("corpus")
    return root, build_corpus(root / "in")


def _evaluate_config(root: Path, name: str, seq: str, evaluation: str = "",
                     run: str = "") -> Path:
    p = root / f"{name}.toml"
    p.write_text(f'[run]\noutput = "{root / ("run-" + name)}"\n{run}\n[[sequences]]\n{seq}\n'
                 f'[evaluation]\nmethods = ["lms"]\n'
                 + ("" if "horizons_" in evaluation else "horizons_steps = [1]\n")
                 + f"{evaluation}\n")
    return p


# ----------------------------------------------------------------------------- inputs x commands
@pytest.mark.parametrize("command", ["info", "register", "predict", "evaluate"])
@pytest.mark.parametrize("case", sorted(INPUT_CASES))
def test_malformed_input_refused(corpus, capsys, case, command):
    root, c = corpus
    path = c[case]
    out = root / "out" / f"{command}-{case}"
    if command == "info":
        argv = ["info", str(path)]
    elif command == "register":
        argv = ["register", str(path), "--out", str(out), "--frame-period", "0.2",
                "--spacing", "1"]
    elif command == "predict":
        argv = ["predict", str(path), "--method", "lms", "--horizon", "1steps", "--out",
                str(out), "--frame-period", "0.2", "--spacing", "1"]
    else:
        (root / "cfg").mkdir(exist_ok=True)
        cfg = _evaluate_config(root / "cfg", case, f'path = "{path}"\nframe_period_s = 0.2\n'
                               "spacing_mm = [1.0, 1.0]")
        argv = ["evaluate", str(cfg), "--no-progress"]
    r = run_cli(capsys, root, argv)
    names = [path.name] if case != "nowhere" else ["does-not-exist"]
    if case.startswith("sidecar"):
        names = []
    if command == "register" and case.startswith(("csv", "sidecar")) and r.rc == 2 and \
            "point trajectories" in r.err:
        names = [path.name]
    assert_refused(r, names + INPUT_CASES[case])


# ----------------------------------------------------------------------------- options, configs
@pytest.fixture(scope="module")
def good(corpus) -> dict[str, Path]:
    root, _ = corpus
    g = root / "good"
    g.mkdir(exist_ok=True)
    pos, t = _good_positions()
    cine = g / "cine"
    write_cine_folder(cine, 12)
    irregular = g / "irregular"
    write_cine_folder(irregular, 12)
    f = irregular / "image7.dcm"
    _dicom_with(f, AcquisitionTime="100001.250000")  # 1.25 s instead of 1.2 s
    return {"markers": _markers(g / "markers.csv", pos, t), "cine": cine, "irregular": irregular}


PREDICT_CASES = {
    "param-not-int": (["--param", "k=abc"], ["--param", "k", "whole number"]),
    "param-fraction": (["--param", "k=1.5"], ["--param", "k"]),
    "param-unknown": (["--param", "nosuch=1"], ["nosuch"]),
    "param-negative": (["--param", "eta=-0.1"], ["eta"]),
    "param-bool-for-int": (["--param", "k=true"], ["k"]),
    "param-no-equals": (["--param", "k"], ["NAME=VALUE"]),
    "horizon-zero": (["--horizon", "0s"], ["--horizon 0s", "positive"]),
    "horizon-negative": (["--horizon", "-1steps"], ["--horizon"]),
    "horizon-1000-steps": (["--horizon", "1000steps"], ["1000"]),
    "horizon-garbage": (["--horizon", "soon"], ["--horizon soon"]),
    "horizon-not-whole": (["--horizon", "33ms"], ["--horizon 33ms", "--round-horizon"]),
    "method-unknown": (["--method", "zzz"], ["zzz"]),
    "n-components-text": (["--n-components", "two"], ["--n-components"]),
}


@pytest.mark.parametrize("case", sorted(PREDICT_CASES))
def test_predict_option_refused(corpus, good, capsys, case):
    root, _ = corpus
    extra, must = PREDICT_CASES[case]
    argv = ["predict", str(good["markers"]), "--method", "lms", "--horizon", "1steps",
            "--out", str(root / "out" / f"p-{case}")]
    for i in range(0, len(extra), 2):  # the case's value replaces the default
        if extra[i] in argv:
            argv[argv.index(extra[i]) + 1] = extra[i + 1]
        else:
            argv += extra[i:i + 2]
    assert_refused(run_cli(capsys, root, argv), must)


def test_predict_nifti_irregular_refused_before_predicting(corpus, good, capsys):
    root, _ = corpus
    argv = ["predict", str(good["irregular"]), "--method", "no-prediction", "--horizon", "1steps",
            "--format", "nii.gz", "--out", str(root / "out" / "nifti")]
    assert_refused(run_cli(capsys, root, argv), ["irregular", "--format mha"])


def test_existing_output_refused_then_replaced_whole_with_force(corpus, good, capsys):
    root, _ = corpus
    out = root / "out" / "existing"
    out.mkdir(parents=True)
    (out / "report.html").write_text("an earlier run")
    argv = ["predict", str(good["markers"]), "--method", "lms", "--horizon", "1steps",
            "--out", str(out), "--no-report"]
    assert_refused(run_cli(capsys, root, argv), [str(out), "--force"])
    r = run_cli(capsys, root, [*argv, "--force"])
    assert r.rc == 0, r.err
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "positions.csv"]
    assert ".partial" not in r.out and str(out / "metrics.json") in r.out
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


EVAL_CASES = {
    "jobs-text": ("", "", 'jobs = "two"', ["[run] jobs", "two"]),
    "horizon-fraction": ("", "horizons_steps = [1.5]", "", ["horizons_steps", "1.5"]),
    "horizon-zero": ("", "horizons_steps = [0]", "", ["horizons_steps"]),
    "horizon-negative-s": ("", "horizons_s = [-0.1]", "", ["horizons_s"]),
    "horizon-beyond-data": ("", "horizons_steps = [1000]", "", ["1000 steps", "beyond"]),
    "grid-text": ("", '[evaluation.grids.lms]\nk = ["abc"]', "", ["grids.lms", "k"]),
    "grid-fraction": ("", "[evaluation.grids.lms]\nk = [2.5]", "", ["k", "2.5"]),
    "grid-unknown": ("", "[evaluation.grids.lms]\nzeta = [1]", "", ["zeta"]),
    "seeds-text": ("", 'seeds = ["a"]', "", ["seeds"]),
    "splits-overlap": ("splits = { train = [1, 50], cv = [40, 70], test = [71, 120] }", "", "",
                       ["overlap"]),
    "splits-beyond": ("splits = { train = [1, 50], cv = [51, 70], test = [71, 500] }", "", "",
                      ["500", "120"]),
    "splits-reversed": ("splits = { train = [50, 1], cv = [51, 70], test = [71, 120] }", "", "",
                        ["train"]),
    "spacing-negative": ("spacing_mm = [-1.0, 1.0]", "", "", ["spacing_mm"]),
    "period-zero": ("frame_period_s = 0", "", "", ["frame_period_s"]),
    "unknown-key": ("", "colour = 1", "", ["colour"]),
    "method-unknown": ("", "", "", ["zzz"]),
}


@pytest.mark.parametrize("case", sorted(EVAL_CASES))
def test_evaluate_config_refused(corpus, good, capsys, case):
    root, _ = corpus
    seq_extra, ev, run, must = EVAL_CASES[case]
    (root / "cfg").mkdir(exist_ok=True)
    cfg = _evaluate_config(root / "cfg", f"e-{case}", f'path = "{good["markers"]}"\n{seq_extra}',
                           ev, run)
    if case == "method-unknown":
        cfg.write_text(cfg.read_text().replace('["lms"]', '["zzz"]'))
    r = run_cli(capsys, root, ["evaluate", str(cfg), "--no-progress"])
    assert_refused(r, [cfg.name, *must])


def test_evaluate_not_toml_refused(corpus, capsys):
    root, _ = corpus
    cfg = root / "cfg" / "random.toml"
    cfg.parent.mkdir(exist_ok=True)
    cfg.write_bytes(RANDOM)
    assert_refused(run_cli(capsys, root, ["evaluate", str(cfg)]), ["random.toml"])


def test_resume_with_another_configuration_refused(corpus, good, capsys):
    root, _ = corpus
    (root / "cfg").mkdir(exist_ok=True)
    cfg = _evaluate_config(root / "cfg", "resume", f'path = "{good["markers"]}"',
                           "seeds = [0]\n[evaluation.grids.lms]\nk = [4]\neta = [0.01]")
    r = run_cli(capsys, root, ["evaluate", str(cfg), "--no-progress"])
    assert r.rc == 0, r.err
    cfg.write_text(cfg.read_text().replace("seeds = [0]", "seeds = [0, 1]"))
    r = run_cli(capsys, root, ["evaluate", str(cfg), "--no-progress", "--resume"])
    assert_refused(r, ["another configuration", "seeds", "[0] -> [0, 1]"])
    # same configuration, other worker count: accepted (how it runs is not what it computes)
    cfg.write_text(cfg.read_text().replace("seeds = [0, 1]", "seeds = [0]"))
    r = run_cli(capsys, root, ["evaluate", str(cfg), "--no-progress", "--resume", "--jobs", "2"])
    assert r.rc == 0, r.err
    assert "0 job(s) computed, 1 already done" in r.out
    # without --resume: refused, the finished run untouched
    assert_refused(run_cli(capsys, root, ["evaluate", str(cfg), "--no-progress"]),
                   ["already holds 1 results", "--force"])


# ----------------------------------------------------------------------------- results, report
@pytest.fixture(scope="module")
def bad_runs(corpus) -> dict[str, Path]:
    root, _ = corpus
    b = root / "runs"
    runs = {}
    for name in ("empty-folder", "random-store", "store-is-folder", "truncated-store"):
        (b / name).mkdir(parents=True)
        runs[name] = b / name
    (b / "random-store" / "results.sqlite").write_bytes(RANDOM)
    (b / "store-is-folder" / "results.sqlite").mkdir()
    (b / "truncated-store" / "results.sqlite").write_bytes(b"SQLite format 3\x00" + RANDOM[:84])
    return runs


@pytest.mark.parametrize("command", ["results", "report"])
@pytest.mark.parametrize("case", ["empty-folder", "random-store", "store-is-folder",
                                  "truncated-store"])
def test_bad_run_folder_refused(corpus, bad_runs, capsys, command, case):
    root, _ = corpus
    r = run_cli(capsys, root, [command, str(bad_runs[case])])
    assert_refused(r, [case])


def test_results_output_into_unwritable_place_refused(corpus, capsys, tmp_path):
    root, _ = corpus
    (root / "cfg").mkdir(exist_ok=True)
    target = Path("/proc/motionpredict-no-such-place/table.csv")
    r = run_cli(capsys, root, ["results", str(root / "runs" / "x"), "-o", str(target)])
    assert_refused(r, ["runs/x"])


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs a place nobody may write")
def test_output_folder_in_unwritable_place_refused(corpus, good, capsys):
    root, _ = corpus
    out = Path("/proc/motionpredict-no-such-place/out")
    for argv in (["predict", str(good["markers"]), "--method", "lms", "--horizon", "1steps",
                  "--out", str(out)],
                 ["register", str(good["cine"]), "--out", str(out)],
                 ["phantom", "--out", str(out), "--kind", "markers"]):
        assert_refused(run_cli(capsys, root, argv), ["/proc"])


def test_subprocess_one_line_no_traceback(corpus):
    """The console entry point itself (not only main()): a few cases through a real process."""
    root, c = corpus
    for path in (c["dicom-huge-header"], c["csv-random-bytes"], c["mha-truncated"]):
        before = _tree(root)
        proc = subprocess.run([sys.executable, "-m", "motionpredict", "info", str(path)],
                              capture_output=True, timeout=120,
                              env={**os.environ, "PYTHONWARNINGS": "ignore"})
        err = proc.stderr.decode("utf-8", "replace")
        assert proc.returncode == 2, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert path.name in err
        assert RANDOM[:8] not in proc.stderr
        assert _tree(root) == before
