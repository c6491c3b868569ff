"""benchmarks/marker_tables.py: variant run folders (e.g. ``10hz-grid``) stay apart from the main
rows, several seeds are averaged, and every table labels them."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

from motionpredict.evaluation.store import ResultStore

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "marker_tables.py"


@pytest.fixture(scope="module")
def mt():
    spec = importlib.util.spec_from_file_location("marker_tables", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _put(store: ResultStore, *, method: str, mode: str, steps: int, seed: int, rmse: float,
         grid: dict, params: dict, seq: str = "markers-1", no_pred: float = 4.0) -> None:
    spec = {"sequence_name": seq, "kind": "markers", "method": method, "mode": mode,
            "horizon_s": round(0.1 * steps, 9), "horizon_steps": steps, "seed": seed,
            "grid": grid}
    metrics = {"rmse_mm": rmse, "mae_mm": 0.8 * rmse, "nrmse": rmse / 10.0, "max_mm": 3 * rmse,
               "jitter_mm": 0.1, "no_prediction_rmse_mm": no_pred}
    key = f"{method}-{mode}-{steps}-{seed}-{seq}"
    store.put(key, spec, {"chosen": {"params": params}, "metrics": metrics,
                          "validation_score": rmse})


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    main_grid = {"k": [24], "q": [30], "eta": [0.005, 0.01, 0.02]}
    with ResultStore(tmp_path / "10hz") as st:
        for steps in (1, 5):
            _put(st, method="no-prediction", mode="causal", steps=steps, seed=0, rmse=4.0,
                 grid={}, params={})
            _put(st, method="snap1", mode="causal", steps=steps, seed=0, rmse=6.0,
                 grid=main_grid, params={"k": 24, "q": 30, "eta": 0.005})
    big = {"k": [24, 60], "q": [30, 40], "eta": [0.005, 0.01, 0.02]}
    with ResultStore(tmp_path / "10hz-grid") as st:
        for steps in (1, 5):
            for seed, rmse, k in ((0, 1.0, 24), (1, 2.0, 60), (2, 3.0, 60)):
                _put(st, method="snap1", mode="causal", steps=steps, seed=seed, rmse=rmse,
                     grid=big, params={"k": k, "q": 40, "eta": 0.02})
            _put(st, method="snap1", mode="reference", steps=5, seed=0, rmse=0.4, grid=big,
                 params={"k": 60, "q": 40, "eta": 0.02})
    return tmp_path


def test_variant_suffix_and_order(mt) -> None:
    assert mt.variant_suffix("10hz", "10hz") == ""
    assert mt.variant_suffix("10hz-grid", "10hz") == "grid"
    assert mt.variant_suffix("extra", "30hz") == "extra"
    names = ["snap1:grid", "rls", "snap1", "no-prediction", "someday-new"]
    assert sorted(names, key=mt.method_order) == [
        "no-prediction", "rls", "snap1", "snap1:grid", "someday-new"]
    assert mt.label("snap1") == "SnAp-1"
    assert mt.label("uoro:grid") == "UORO (grid)"


def test_variant_rows_do_not_mix_and_average_seeds(mt, root: Path) -> None:
    index = mt.by_mode(mt.load_rows(root))
    methods, horizons, cells, n_seq = mt.mean_table(index, "10hz", "causal", "rel_rmse")
    assert methods == ["no-prediction", "snap1", "snap1:grid"]
    assert horizons == [1, 5] and n_seq == 1
    assert cells["snap1"][5] == (pytest.approx(1.5), 1)  # 6 / 4, main run only
    assert cells["snap1:grid"][5] == (pytest.approx(0.5), 1)  # mean(1, 2, 3) / 4
    row = index[("10hz", "causal", "snap1:grid", "markers-1", 5)]
    assert row["n_seeds"] == 3 and row["seeds"] == [0, 1, 2]
    assert row["rel_rmse_std"] == pytest.approx(0.25)  # std(1, 2, 3; ddof 1) / 4
    assert row["params"] == json.dumps({"eta": 0.02, "k": 24, "q": 40}, sort_keys=True) + \
        " / " + json.dumps({"eta": 0.02, "k": 60, "q": 40}, sort_keys=True)
    # reference mode: run at h = 5, taken from the causal run at h = 1 (the modes coincide)
    ref_methods, _, ref_cells, _ = mt.mean_table(index, "10hz", "reference", "rel_rmse")
    ref = ref_cells["snap1:grid"]
    assert ref[5][0] == pytest.approx(0.1) and ref[1][0] == pytest.approx(0.5)
    # the main snap1 run has no reference row at all: no column from its causal h = 1 row
    assert ref_methods == ["no-prediction", "snap1:grid"]


def test_tables_label_the_variant(mt, root: Path) -> None:
    index = mt.by_mode(mt.load_rows(root))
    assert mt.label("snap1:grid", index) == "SnAp-1 (grid, 3 seeds)"
    text = mt.mean_markdown(index)
    head = next(line for line in text.splitlines() if line.startswith("| h (s)"))
    assert head.split(" | ")[1:] == ["no prediction =", "SnAp-1", "SnAp-1 (grid, 3 seeds) |"]
    assert "| 0.5 | 1.000 | 1.500 | 0.500 |" in text
    notes = mt.variant_notes(index, "10hz")
    assert notes == ["(grid) = run folder 10hz-grid: SnAp-1 k {24, 60} x q {30, 40} x "
                     "eta {0.005, 0.01, 0.02}; seeds 0, 1, 2"]
    assert notes[0] in text
    per_seq = mt.per_sequence_markdown(index)
    line = next(x for x in per_seq.splitlines()
                if x.startswith("| SnAp-1 (grid, 3 seeds) | causal | 0.5 "))
    cols = [c.strip() for c in line.strip("|").split("|")]
    assert cols[8] == "0.500 ± 0.250"
    assert cols[9] == "k=24 / k=60"
    assert math.isclose(float(cols[4]), 2.0)  # RMSE (mm), mean over seeds


def test_variant_notes_group_methods_with_one_grid(mt) -> None:
    g1 = json.dumps({"eta": [0.01], "k": [24, 60], "q": [30]}, sort_keys=True)
    g2 = json.dumps({"eta": [0.001], "k": [24], "q": [30]}, sort_keys=True)
    index = {("10hz", "causal", m, "markers-1", 1): {"run": "10hz-grid", "grid": g, "seeds": s}
             for m, g, s in (("uoro:grid", g1, [0, 1]), ("snap1:grid", g1, [0]),
                             ("dni:grid", g2, [2]))}
    index[("3.33hz", "causal", "snap1:x", "markers-1", 1)] = {"run": "x", "grid": g2, "seeds": [0]}
    assert mt.variant_notes(index, "10hz") == [
        "(grid) = run folder 10hz-grid: SnAp-1, UORO k {24, 60} x q {30} x eta {0.01}; "
        "DNI k {24} x q {30} x eta {0.001}; seeds 0, 1, 2"]
    assert len(mt.variant_notes(index)) == 2


def test_plot_writes_a_png_atomically(mt, root: Path, tmp_path: Path) -> None:
    index = mt.by_mode(mt.load_rows(root))
    out = tmp_path / "img" / "rel.png"
    mt.plot(index, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["rel.png"]  # no temporary file left
