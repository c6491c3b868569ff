"""Dataset cards (schema, lookup), ``datasets`` / ``info`` / ``phantom`` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
from io_helpers import cine, write_cine_folder

from motionpredict.cards import available_cards, find_card, load_card
from motionpredict.cli.main import main
from motionpredict.errors import ConfigurationError
from motionpredict.io import load, write_dicom_series


def test_five_cards_validate():
    cards = available_cards()
    assert {
        "eth-4dmri-cine",
        "ovgu-liver-navigator",
        "krilavicius-markers",
        "tcia-4d-lung",
        "trackrad2025",
    } <= set(cards)
    assert cards["eth-4dmri-cine"].frame_period_s == pytest.approx(0.314)
    assert cards["eth-4dmri-cine"].spacing_convention_mm == 1.0


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ("typo_key = 1\n", "unknown card keys"),
        ("frame_period_s = -1\n", "positive"),
        ('spacing_mm = ["a", 1]\n', "positive number"),
    ],
)
def test_card_schema_errors(tmp_path, extra, match):
    base = tmp_path / "x.toml"
    text = "".join(f'{k} = "v"\n' for k in ("title", "layout", "licence", "citation", "download"))
    base.write_text('name = "x"\nkind = "cine-mri-2d"\n' + text + extra)
    with pytest.raises(ConfigurationError, match=match):
        load_card(base)


def test_unknown_dataset_lists_available():
    with pytest.raises(ConfigurationError, match="eth-4dmri-cine"):
        find_card("nope")


def test_dataset_card_gives_period_and_spacing(tmp_path):
    for i in range(3):
        from io_helpers import write_frame

        write_frame(tmp_path / f"image{i + 1}.dcm", np.full((5, 5), i))
    seq = load(tmp_path, dataset="eth-4dmri-cine")
    assert seq.spacing == (1.0, 1.0) and seq.provenance.spacing_source == "convention"
    np.testing.assert_allclose(seq.times, [0, 0.314, 0.628])
    assert seq.provenance.frame_period_source == "card"


def test_sidecar_period_and_spacing(tmp_path):
    write_cine_folder(tmp_path, 3)
    (tmp_path / "sequence.json").write_text(json.dumps({"frame_period_s": 0.5}))
    seq = load(tmp_path)  # header times win over the sidecar
    assert seq.provenance.frame_period_source == "acquisition-times"
    np.testing.assert_allclose(seq.frame_period, 0.2, atol=1e-6)


def test_trackrad_style_mha_with_frame_rate_json(tmp_path):
    import SimpleITK as sitk

    arr = cine().frames
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((2.0, 1.5, 1.0))
    sitk.WriteImage(img, str(tmp_path / "A_001_frames.mha"))
    (tmp_path / "frame-rate.json").write_text("4.0")
    seq = load(tmp_path / "A_001_frames.mha")
    assert seq.frames.shape == arr.shape and seq.spacing == (1.5, 2.0)
    assert (
        seq.frame_period == pytest.approx(0.25) and seq.provenance.frame_period_source == "sidecar"
    )


def test_cli_datasets(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "tcia-4d-lung" in out and "0.314 s" in out
    assert main(["datasets", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["krilavicius-markers"]["frame_period_s"] == 0.1


def test_cli_info_options(tmp_path, capsys):
    seq = cine()
    write_dicom_series(seq, tmp_path, description="x")
    assert main(["info", str(tmp_path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n_frames"] == 6 and d["spacing_mm"] == [1.5, 2.0] and d["frame_period_s"] == 0.25
    assert d["ordering"] == "TemporalPositionIdentifier"


def test_cli_phantom_cine_dicom(tmp_path, capsys):
    phantom = pytest.importorskip("motionpredict.phantom")
    if not hasattr(phantom, "make_cine"):
        pytest.skip("motionpredict.phantom.make_cine not available yet")
    assert main(["phantom", "--out", str(tmp_path), "--frames", "4", "--seed", "3"]) == 0
    seq = load(tmp_path / "dicom")
    ref = phantom.make_cine(seed=3, n_frames=4).sequence
    step = (ref.frames.max() - ref.frames.min()) / 65535
    np.testing.assert_allclose(seq.frames, ref.frames, atol=0.51 * step + 1e-6)
    np.testing.assert_allclose(seq.spacing, ref.spacing)
    np.testing.assert_allclose(seq.times, ref.times - ref.times[0], atol=1e-6)


def test_cards_from_env_folder_win(tmp_path, monkeypatch):
    card = (
        'name = "eth-4dmri-cine"\ntitle = "site copy"\nkind = "cine-mri-2d"\nlayout = "l"\n'
        'licence = "l"\ncitation = "c"\ndownload = "d"\nframe_period_s = 0.5\n'
    )
    (tmp_path / "eth-4dmri-cine.toml").write_text(card)
    monkeypatch.setenv("MOTIONPREDICT_CARDS_DIR", str(tmp_path))
    assert find_card("eth-4dmri-cine").frame_period_s == 0.5
    assert "ovgu-liver-navigator" in available_cards()


@pytest.mark.slow
def test_wheel_ships_the_cards_as_data_files(tmp_path, monkeypatch):
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    from motionpredict.cards import cards_dir

    repo = Path(__file__).resolve().parents[2]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(repo),
        ],
        check=True,
        capture_output=True,
        timeout=240,
    )
    (wheel,) = tmp_path.glob("motionpredict-*.whl")
    prefix = tmp_path / "prefix"
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.endswith(".toml")]
        for n in names:
            rel = n.split(".data/data/", 1)[1]  # what pip installs under sys.prefix
            (prefix / rel).parent.mkdir(parents=True, exist_ok=True)
            (prefix / rel).write_bytes(zf.read(n))
    assert len(names) == 5
    monkeypatch.setattr(sys, "prefix", str(prefix))
    shipped = prefix / "share" / "motionpredict" / "clinical_data"
    assert shipped in cards_dir()
    assert load_card(shipped / "tcia-4d-lung.toml").kind == "ct4d-phases"
