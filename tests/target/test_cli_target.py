"""``motionpredict target``: outputs agree with each other; user errors exit 2 with one line."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import SimpleITK as sitk

from motionpredict.cli.main import main


def test_target_on_the_phantom_writes_consistent_outputs(tmp_path, capsys) -> None:
    out = tmp_path / "t"
    code = main(
        [
            "target",
            "--phantom",
            "--frames",
            "80",
            "--method",
            "rls",
            "--horizon",
            "0.5s",
            "--windows",
            "2",
            "4",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert "interval coverage" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == {
        "target.csv",
        "metrics.json",
        "centroid.png",
        "gating.png",
        "report.html",
    }
    rows = list(csv.DictReader((out / "target.csv").read_text().splitlines()))
    m = json.loads((out / "metrics.json").read_text())
    # 80 frames, 36 training frames (45 %), 2 frames ahead: targets 38..79
    assert len(rows) == 80 - 36 - 2 == m["target"]["n_frames"]
    assert np.mean([float(r["dice"]) for r in rows]) == pytest.approx(
        m["target"]["mean_dice"], abs=1e-4
    )
    dist = [float(r["centroid_distance_mm"]) for r in rows]
    direct = [
        np.hypot(
            float(r["actual_c0_mm"]) - float(r["predicted_c0_mm"]),
            float(r["actual_c1_mm"]) - float(r["predicted_c1_mm"]),
        )
        for r in rows
    ]
    np.testing.assert_allclose(dist, direct, atol=2e-4)
    # the first window's beam columns give the duty cycles of metrics.json
    for key, col in (("no prediction", "beam_no_prediction"), ("rls", "beam_rls")):
        beam = np.array([int(r[col]) for r in rows])
        g = m["gating"][key][0]
        assert g["window_mm"] == 2.0
        # the beam follows decisions taken 2 frames (500 ms) earlier: none for the first 2
        assert not beam[:2].any()
        assert beam[2:].mean() == pytest.approx(g["duty_cycle"])
    cov = [int(r["covered"]) for r in rows if r["covered"] != ""]
    assert np.mean(cov) == pytest.approx(m["interval"]["coverage"])
    assert m["settings"]["latency_ms"] == pytest.approx(500.0)
    # no prediction: the actual centroid of 2 frames earlier, from the CSV's own columns
    act = {int(r["frame"]): (float(r["actual_c0_mm"]), float(r["actual_c1_mm"])) for r in rows}
    nop = [np.hypot(*np.subtract(act[f], act[f - 2])) for f in act if f - 2 in act]
    assert len(nop) == len(rows) - 2 == m["no_prediction"]["n_frames"]
    assert np.mean(nop) == pytest.approx(m["no_prediction"]["mean_centroid_distance_mm"], abs=1e-3)
    # the report states the answer with the numbers of metrics.json, de-identified
    html = (out / "report.html").read_text()
    assert f"Mean centroid error {m['target']['mean_centroid_distance_mm']:.2f} mm" in html
    assert f"(no prediction {m['no_prediction']['mean_centroid_distance_mm']:.2f} mm)" in html
    assert f"Interval coverage {100 * m['interval']['coverage']:.1f} %" in html
    assert html.count("data:image/png;base64,") == 4  # centroid, errors, gating, contours
    assert str(tmp_path) not in html


def test_target_user_errors_exit_2(tmp_path, capsys) -> None:
    assert main(["target", "--horizon", "0.5s"]) == 2
    assert "--phantom" in capsys.readouterr().err
    assert main(["target", str(tmp_path), "--phantom", "--horizon", "0.5s"]) == 2
    capsys.readouterr()
    # a label image of the wrong shape for the series
    seq = tmp_path / "seq.mha"
    img = sitk.GetImageFromArray(np.zeros((30, 16, 16), np.float32), isVector=False)
    img.SetSpacing((1.0, 1.0, 1.0))
    sitk.WriteImage(img, str(seq))
    sitk.WriteImage(sitk.GetImageFromArray(np.ones((8, 8), np.uint8)), str(tmp_path / "l.mha"))
    code = main(
        [
            "target",
            str(seq),
            "--label",
            str(tmp_path / "l.mha"),
            "--horizon",
            "1steps",
            "--frame-period",
            "0.2",
            "--spacing",
            "1",
            "1",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "label" in err[0]
    assert not (tmp_path / "o").exists()


def test_trackrad_case_from_the_phantom_and_back(tmp_path, capsys) -> None:
    out = tmp_path / "a"
    args = ["--method", "rls", "--horizon", "0.5s", "--windows", "3"]
    assert (
        main(
            [
                "target",
                "--phantom",
                "--frames",
                "60",
                "--write-trackrad",
                "--slicer-cinetrack",
                "--out",
                str(out),
                *args,
            ]
        )
        == 0
    )
    case = out / "trackrad" / "phantom-0"
    assert (case / "images" / "phantom-0_frames.mha").is_file()
    first = json.loads((out / "metrics.json").read_text())
    sct = out / "slicercinetrack"
    n_scored = first["target"]["n_frames"]
    assert len(list((sct / "images").glob("*.mha"))) == n_scored
    assert len((sct / "transforms_predicted.csv").read_text().splitlines()) == n_scored + 1
    assert main(["target", str(case), "--out", str(tmp_path / "b"), *args]) == 0
    again = json.loads((tmp_path / "b" / "metrics.json").read_text())
    # the case read back gives the same frames and target: the same tracking
    assert again["target"]["mean_dice"] == pytest.approx(first["target"]["mean_dice"], abs=1e-6)
    lab = again["against_labels"]
    for kind in ("tracking", "forecast"):
        assert lab[kind] == pytest.approx(first["against_labels"][kind])
    assert 0.8 < lab["forecast"]["mean_dice"] <= lab["tracking"]["mean_dice"] <= 1.0
    assert main(["target", str(case), "--write-trackrad", "--horizon", "1steps"]) == 2


@pytest.mark.shared_data
@pytest.mark.slow
def test_target_on_real_cine_with_the_sidecar_roi(shared_data, tmp_path) -> None:
    out = tmp_path / "ks81"
    code = main(
        [
            "target",
            str(shared_data / "cine_mri" / "ovgu-ks81"),
            "--method",
            "rls",
            "--param",
            "k=23",
            "--horizon",
            "3steps",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["settings"]["spacing_mm"] == pytest.approx([1.818, 1.818], abs=1e-3)
    assert m["target"]["n_frames"] == 498 - 170 - 3
    # a causal forecast beats no prediction on the ROI centroid; the interval covers near 90 %
    rows = list(csv.DictReader((out / "target.csv").read_text().splitlines()))
    act = np.array([[float(r["actual_c0_mm"]), float(r["actual_c1_mm"])] for r in rows])
    err = m["target"]["mean_centroid_distance_mm"]
    assert err < np.linalg.norm(act[3:] - act[:-3], axis=1).mean()
    assert 0.85 <= m["interval"]["coverage"] <= 0.95
