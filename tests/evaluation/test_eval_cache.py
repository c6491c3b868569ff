"""On-disk cache of registration fields and PCA fits; the batched validation scorer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from eval_helpers import write_config

from motionpredict.evaluation import protocol as P
from motionpredict.evaluation.batch import run_evaluation
from motionpredict.evaluation.cache import ArrayCache
from motionpredict.evaluation.config import load_config
from motionpredict.evaluation.store import ResultStore


def _forget_in_process() -> None:
    """What a fresh process would hold: nothing."""
    ArrayCache._memory.clear()
    P._PCA_MEMO.clear()


def _cine_only(folder: Path, cache: Path, extra_reg: str = "") -> Path:
    cfg = write_config(folder, modes='["causal"]', seeds="[0]", horizons="[1]",
                       extra=extra_reg)
    text = cfg.read_text().replace("[run]\njobs = 1", f'[run]\njobs = 1\ncache = "{cache}"')
    # drop the marker sequence: only the cine has registration and PCA
    start = text.index('[[sequences]]\nphantom = "markers"')
    end = text.index("[evaluation]")
    cfg.write_text(text[:start] + text[end:])
    return cfg


def _results(run: Path) -> dict[str, dict]:
    with ResultStore(run) as st:
        return {r["key"]: r["result"] for r in st.rows()}


def test_second_run_loads_registration_and_pca_from_disk(tmp_path: Path, monkeypatch) -> None:
    from motionpredict import motion_model, registration

    cache = tmp_path / "shared-cache"
    cfg = load_config(_cine_only(tmp_path, cache))
    _forget_in_process()
    run_evaluation(cfg, tmp_path / "run1", progress=False)
    kinds = sorted(p.name.split("-")[0] for p in cache.glob("*.npz"))
    assert kinds == ["lk", "pca"]
    assert not list(cache.glob(".tmp-*"))
    first = _results(tmp_path / "run1")

    # a fresh process on the same sequence: neither registration nor the SVD may run again
    _forget_in_process()

    def refuse(*a, **k):
        raise AssertionError("recomputed although cached on disk")

    monkeypatch.setattr(registration.LucasKanade, "register", refuse)
    monkeypatch.setattr(motion_model.PCAMotionModel, "fit", refuse)
    run_evaluation(cfg, tmp_path / "run2", progress=False)
    second = _results(tmp_path / "run2")
    assert first.keys() == second.keys()
    for k in first:
        assert "error" not in second[k]
        assert second[k]["metrics"]["dvf_mean_mm"] == first[k]["metrics"]["dvf_mean_mm"]
        assert second[k]["chosen"] == first[k]["chosen"]
    monkeypatch.undo()

    # a changed registration parameter misses the cache: new fields, new PCA fit
    cfg3 = load_config(_cine_only(tmp_path, cache, "\n[registration]\nsigma_lk = 3.0\n"))
    _forget_in_process()
    calls = []
    real_fit = motion_model.PCAMotionModel.fit

    def counting_fit(self, fields):
        calls.append(1)
        return real_fit(self, fields)

    monkeypatch.setattr(motion_model.PCAMotionModel, "fit", counting_fit)
    run_evaluation(cfg3, tmp_path / "run3", progress=False)
    assert calls == [1]
    assert sorted(p.name.split("-")[0] for p in cache.glob("*.npz")) == ["lk", "lk", "pca", "pca"]


def test_pca_cache_key_is_the_training_window(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    fields = rng.normal(size=(30, 6, 5, 2)).astype(np.float32)
    cache = ArrayCache(tmp_path)
    _forget_in_process()
    m1 = P.fit_pca(fields, (0, 12), 3, cache)
    _forget_in_process()
    m2 = P.fit_pca(fields, (0, 12), 2, cache)
    assert cache.misses == 1 and cache.hits == 1
    np.testing.assert_array_equal(m1.components_[:2], m2.components_)
    _forget_in_process()
    P.fit_pca(fields, (0, 13), 2, cache)  # another training window: another fit
    assert cache.misses == 2
    from motionpredict.motion_model import PCAMotionModel

    direct = PCAMotionModel(3).fit(fields[:12])
    np.testing.assert_allclose(m1.components_, direct.components_, atol=1e-12)
    np.testing.assert_allclose(m1.explained_variance_, direct.explained_variance_, rtol=1e-12)


@pytest.mark.parametrize("n", [1, 3])
def test_validation_scorer_equals_rebuilt_fields(n: int) -> None:
    rng = np.random.default_rng(n)
    fields = rng.normal(size=(40, 7, 9, 2)).astype(np.float32)
    splits = P.Splits((0, 15), (15, 30), (30, 40), 15)
    data = P.CineData(sequence=None, fields_mm=fields, register_ms=np.zeros(40),  # type: ignore[arg-type]
                      splits=splits)
    model = P.fit_pca(fields, splits.train, n)
    scorer = P.ValidationScorer(data, model, splits.validation)
    preds = [rng.normal(size=(40, n)) * s for s in (0.5, 1.0, 2.0)] * 50  # 150 > one chunk
    preds[4] = np.asarray(model.project(fields), dtype=np.float64)  # truncation only
    got = scorer.scores(preds)
    for p, g in zip(preds, got, strict=True):
        rebuilt = np.asarray(model.reconstruct(p[15:30]))
        want = np.linalg.norm(fields[15:30] - rebuilt, axis=-1).mean()
        assert g == pytest.approx(want, rel=1e-6)
    bad = preds[0].copy()
    bad[20, 0] = np.nan
    assert scorer.scores([bad])[0] == np.inf


def test_cache_option_resolves_against_the_config_folder(tmp_path: Path) -> None:
    from motionpredict.evaluation.batch import build_jobs, job_cache
    from motionpredict.evaluation.config import parse_config

    data = {"run": {"cache": "shared/cache"},
            "sequences": [{"phantom": "markers", "duration_s": 30.0, "rate_hz": 10.0}],
            "evaluation": {"methods": ["no-prediction"], "horizons_steps": [1]}}
    cfg = parse_config(data, base=tmp_path)
    assert cfg.cache_dir == tmp_path / "shared/cache"
    job = build_jobs(cfg, tmp_path / "run")[0]
    assert job_cache(job, tmp_path / "run").folder == tmp_path / "shared/cache"
    del data["run"]
    job = build_jobs(parse_config(data, base=tmp_path), tmp_path / "run")[0]
    assert job_cache(job, tmp_path / "run").folder == tmp_path / "run" / "cache"
    # where the cache lives does not change what a job is (its key)
    assert job["key"] == build_jobs(cfg, tmp_path / "run")[0]["key"]
