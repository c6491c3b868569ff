"""Reports (HTML + PDF) of an evaluation run and of ``motionpredict predict``."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from motionpredict.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))
from eval_helpers import write_config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from motionpredict.evaluation.batch import run_evaluation
    from motionpredict.evaluation.config import load_config

    folder = tmp_path_factory.mktemp("report")
    cfg = load_config(write_config(folder, seeds="[0, 1]"))
    run = folder / "run"
    run_evaluation(cfg, run, progress=False)
    return run


def test_html_and_pdf_report(run_dir: Path, capsys) -> None:
    assert main(["report", str(run_dir), "--pdf"]) == 0
    out = capsys.readouterr().out.split()
    assert [Path(p).name for p in out] == ["report.html", "report.pdf"]
    html = (run_dir / "report.html").read_text()
    imgs = re.findall(r'<img[^>]*src="([^"]+)"', html)
    # 2 error-vs-horizon, 2 traces, 1 triplet figure, 2 latency figures
    assert len(imgs) == 7 and all(s.startswith("data:image/png;base64,") for s in imgs)
    assert "http://" not in html and "https://" not in html  # self-contained
    assert "reference mode" in html and "not achievable in real time" in html
    assert "phantom-cine-0: mean geometric (DVF) error vs LK field (mm), causal mode" in html
    assert "Settings chosen on the validation window" in html
    assert "± " in html  # spread over the two seeds
    # the answer first: the summary section precedes every other section
    heads = re.findall(r"<h2>([^<]+)</h2>", html)
    assert heads[0] == "The answer: best method per horizon"
    assert "Answer: best method per horizon, image-2d, causal mode" in html
    assert "Answer: best method per horizon, markers, causal mode" in html
    # what was scored and searched, from what the run did
    assert "hyper-parameters were chosen on the" not in html
    # lms: 2 settings on markers, 2 x 2 PCA sizes on cine; no-prediction: 1 and 2 PCA sizes
    assert ("validation window for lms (2/4 settings), no-prediction (1/2 settings)." in html)
    # SSIM with L = 255 on [0, 1] data (1.000 by construction) is gone; the kept SSIM varies
    assert "SSIM (L=255)" not in html and "L = data range" in html
    table = html[html.index("phantom-cine-0: all metrics, causal mode"):]
    table = table[:table.index("</table>")]
    hdr = re.findall(r"<th>([^<]+)</th>", table)
    col = hdr.index("SSIM (L = data range)")
    vals = [float(re.findall(r"<td>([^<]+)</td>", r)[col].split(" ")[0])
            for r in table.split("<tr>")[2:]]
    assert len(vals) == 4 and all(0 < v < 1 for v in vals) and min(vals) < 0.999
    assert "Per-frame error difference with no-prediction" in html
    assert "Wilcoxon signed-rank test against no-prediction" in html
    pdf = (run_dir / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 10


def test_report_refuses_an_empty_folder(tmp_path: Path) -> None:
    assert main(["report", str(tmp_path)]) == 2


def test_predict_writes_frames_weights_metrics_and_a_deidentified_report(tmp_path: Path) -> None:
    import pydicom

    from motionpredict.io import load, write_dicom_series
    from motionpredict.phantom import make_cine

    ph = make_cine(seed=5, n_frames=30, shape=(48, 48), frame_period_s=0.25)
    dicom_dir = tmp_path / "dicom"
    files = write_dicom_series(ph.sequence, dicom_dir, description="phantom")
    for f in files:
        ds = pydicom.dcmread(f)
        ds.PatientName = "ZZTESTPATIENT^JANE"
        ds.PatientID = "PID-98765"
        ds.save_as(f)
    seq = load(dicom_dir, frame_period_s=0.25)
    assert seq.n_frames == 30
    out = tmp_path / "pred"
    rc = main(["predict", str(dicom_dir), "--method", "no-prediction", "--horizon", "0.5s",
               "--train-frames", "15", "--n-components", "2", "--out", str(out),
               "--frame-period", "0.25"])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["horizon_steps"] == 2 and metrics["mode"] == "causal"
    assert metrics["scored_frames_1based"] == [18, 30]
    assert metrics["metrics"]["dvf_mean_mm"] > 0
    pred = load(out / "predicted.mha", frame_period_s=0.25)
    assert pred.n_frames == 13 and pred.shape == (48, 48)
    rows = (out / "weights.csv").read_text().splitlines()
    assert rows[0].startswith("frame,time_s,issued_at_frame,w1_acquired_mm")
    assert len(rows) == 14
    first = rows[1].split(",")
    assert (int(first[0]), int(first[2])) == (18, 16)
    html = (out / "report.html").read_text()
    assert "hyper-parameters were chosen on the" not in html
    assert "Searched: nothing" in html and metrics["scored_window"]["name"] in html
    assert "Settings used (nothing chosen on a validation window)" in html
    assert "Settings chosen on the validation window" not in html
    for name in ("report.html", "metrics.json", "weights.csv", "results.sqlite"):
        blob = (out / name).read_bytes()
        assert b"ZZTESTPATIENT" not in blob and b"PID-98765" not in blob, name
    assert main(["predict", str(dicom_dir), "--method", "lms", "--horizon", "0.3s",
                 "--frame-period", "0.25", "--out", str(tmp_path / "x")]) == 2


def test_predict_markers(tmp_path: Path) -> None:
    from motionpredict.io import write_points_csv
    from motionpredict.phantom import make_markers

    traj = make_markers(seed=2, duration_s=20.0, rate_hz=10.0).sequence
    csv_path = tmp_path / "m.csv"
    write_points_csv(traj, csv_path)
    out = tmp_path / "mp"
    assert main(["predict", str(csv_path), "--method", "lms", "--horizon", "3steps",
                 "--train-frames", "80", "--out", str(out), "--mode", "reference"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["mode_label"].startswith("reference mode")
    assert np.isfinite(m["metrics"]["nrmse"]) and m["metrics"]["jitter_mm"] > 0
    assert "REFERENCE MODE" in (out / "report.html").read_text()
