"""One home for the sidecar (issue #18): the typed reader, the one 1-based -> 0-based ROI
converter, the one split selector, and the callers that use them (protocol, pipeline, 4DCT)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from motionpredict.ct4d.pipeline import roi_mask_xyz
from motionpredict.errors import ConfigurationError, InputFileError, ValidationError
from motionpredict.evaluation import protocol as P
from motionpredict.io.sidecar import rate_key, read_sidecar, roi_mask, sidecar_of, split_spec
from motionpredict.pipeline import _default_train

ETH_LIKE = {
    "frame_period_s": 0.314,
    "roi": {"x": [52, 134], "y": [154, 230], "convention": "1-based"},
    "splits": {"online_methods": {"train": [1, 90], "cv": [91, 180], "test": [181, 200]},
               "offline_methods_last_training_target": 160},
    "horizons_steps": [1, 2, 3],
    "reference_lk_parameters": {"sigma_lk": 2, "pyramid_levels": 2},
}
MARKERS_LIKE = {
    "sampling_hz": 10.0,
    "splits": {"10hz": {"train": [1, 300], "cv": [301, 600], "test_from": 601},
               "3.33hz": {"train": [1, 100], "cv": [101, 200], "test_from": 201}},
}


def _write(folder: Path, doc: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sequence.json").write_text(json.dumps(doc))
    return folder


def test_roi_2d_one_based_inclusive_to_rows_and_columns() -> None:
    mask = roi_mask(ETH_LIKE["roi"], (270, 270))
    assert mask is not None and mask.sum() == (230 - 154 + 1) * (134 - 52 + 1)
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (153, 229, 51, 133)


def test_roi_3d_follows_matlab_axes_and_all_callers_agree() -> None:
    roi = {"x": [2, 3], "y": [1, 4], "z": [5, 5]}
    mask = roi_mask(roi, (6, 5, 4))
    assert mask is not None and mask.sum() == 2 * 4 * 1
    assert mask[4, 0, 1] and mask[4, 3, 2] and not mask[3, 0, 1] and not mask[4, 0, 0]
    np.testing.assert_array_equal(roi_mask_xyz(roi, (6, 5, 4)), mask)  # 4DCT (strict)
    np.testing.assert_array_equal(P.roi_from_sidecar({"roi": roi}, (6, 5, 4)), mask)  # lenient


@pytest.mark.parametrize("bad", [{"x": [1, 2]}, {"x": "a", "y": [1, 2]}, {"x": [1], "y": [1, 2]},
                                 {"x": [3, 2], "y": [5, 4]}, "not a dict"])
def test_malformed_roi_is_none_when_lenient_and_an_error_when_strict(bad) -> None:
    assert roi_mask(bad, (10, 10)) is None
    with pytest.raises((ConfigurationError, ValidationError)):
        roi_mask(bad, (10, 10), strict=True)


def test_strict_roi_outside_the_grid_is_a_validation_error() -> None:
    assert roi_mask({"x": [1, 20], "y": [1, 2]}, (10, 10)).sum() == 2 * 10  # lenient: clipped
    with pytest.raises(ValidationError, match=r"outside 1\.\.10"):
        roi_mask({"x": [1, 20], "y": [1, 2]}, (10, 10), strict=True)
    with pytest.raises(ConfigurationError, match="x, y and z ranges"):
        roi_mask_xyz({"x": [1, 2, 3], "y": [1, 2], "z": [1, 2]}, (6, 5, 4))


def test_split_spec_picks_cine_marker_rate_and_plain_windows() -> None:
    d, src = split_spec(ETH_LIKE)
    assert src == "sidecar" and d["train"] == [1, 90] and d["offline_last_training_target"] == 160
    d, src = split_spec(MARKERS_LIKE, 0.1)
    assert src == "sidecar (10hz)" and d["train"] == [1, 300]
    assert rate_key(0.3) == "3.33hz"
    assert split_spec(MARKERS_LIKE, 0.3)[0]["train"] == [1, 100]
    assert split_spec(MARKERS_LIKE, 0.05) is None  # 20 Hz: no window stated for that rate
    assert split_spec({"splits": {"train": [1, 5], "cv": [6, 8], "test": [9, 10]}})[0]["cv"] == [
        6, 8]
    assert split_spec({}) is None and split_spec({"splits": "x"}) is None
    sp = P.splits_from_sidecar(ETH_LIKE, 200)
    assert (sp.train, sp.validation, sp.test, sp.offline_fit_until) == (
        (0, 90), (90, 180), (180, 200), 160)


def test_typed_sidecar_and_the_dict_readers_agree(tmp_path: Path) -> None:
    folder = _write(tmp_path / "eth", ETH_LIKE)
    sc = read_sidecar(folder)
    assert sc is not None and sc.frame_period_s == pytest.approx(0.314)
    assert sc.lk_parameters == ETH_LIKE["reference_lk_parameters"]
    np.testing.assert_array_equal(sc.roi_mask((270, 270)), roi_mask(ETH_LIKE["roi"], (270, 270)))
    assert sc.horizons_s(0.314) == pytest.approx([0.314, 0.628, 0.942])
    assert P.horizons_from_sidecar(ETH_LIKE, 0.314) == sc.horizons_s(0.314)
    assert P.read_sidecar(folder) == ETH_LIKE
    assert P.read_sidecar(tmp_path) is None
    (tmp_path / "fr").mkdir()
    (tmp_path / "fr" / "frame-rate.json").write_text("4")
    assert P.read_sidecar(tmp_path / "fr") is None  # not a sequence.json
    assert read_sidecar(tmp_path / "fr").frame_period_s == pytest.approx(0.25)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "sequence.json").write_text("{not json")
    with pytest.raises(InputFileError):
        P.read_sidecar(tmp_path / "bad")


def test_the_pipeline_training_window_comes_from_the_recorded_sidecar(tmp_path: Path) -> None:
    folder = _write(tmp_path / "m", MARKERS_LIKE)
    extra = {"sidecar": str(folder / "sequence.json")}
    assert sidecar_of(extra).raw == MARKERS_LIKE
    assert _default_train(1000, extra, "samples", 0.1) == (300, "sidecar")
    assert _default_train(1000, extra, "samples", 0.3) == (100, "sidecar")
    assert _default_train(1000, extra, "samples", 0.05) == (450, "default: first 45% of the "
                                                                 "samples")
    assert _default_train(200, {"splits": ETH_LIKE["splits"]}, "frames", 0.314) == (90, "sidecar")
    assert sidecar_of({"sidecar": str(tmp_path / "gone.json")}) is None
    assert sidecar_of({}) is None and sidecar_of(None) is None
    (folder / "sequence.json").write_text("{broken")
    assert _default_train(100, extra, "frames", 0.1) == (45, "default: first 45% of the frames")


def test_save_npz_is_atomic_and_round_trips(tmp_path: Path) -> None:
    from motionpredict.io.atomic import save_npz

    arrays = {"t": np.arange(5), "frames": np.linspace(0, 1, 24).reshape(2, 3, 4)}
    assert save_npz(tmp_path, "artifacts/k.npz", arrays) == "artifacts/k.npz"
    with np.load(tmp_path / "artifacts" / "k.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["frames", "t"]
        np.testing.assert_array_equal(z["frames"], arrays["frames"])
    with pytest.raises(ValueError, match="Object arrays"):  # no pickles: nothing is written
        save_npz(tmp_path, "artifacts/bad.npz", {"o": np.array([{}], dtype=object)})
    assert sorted(p.name for p in (tmp_path / "artifacts").iterdir()) == ["k.npz"]
