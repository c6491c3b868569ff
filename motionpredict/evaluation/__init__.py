"""Evaluation: metrics, the published protocol, batch runs (joblib / Dask), results store, stats.

Modules: :mod:`~motionpredict.metrics` (error measures, a lower layer; re-exported here),
:mod:`~motionpredict.evaluation.protocol` (splits, horizons, grid search on validation, test-only
numbers), :mod:`~motionpredict.evaluation.config` (TOML configuration),
:mod:`~motionpredict.evaluation.batch` (local / Dask execution, resume),
:mod:`~motionpredict.evaluation.store` (SQLite results store),
:mod:`~motionpredict.evaluation.cache` (content-hash cache),
:mod:`~motionpredict.evaluation.stats` (spread over seeds, Wilcoxon, cycle bootstrap),
:mod:`~motionpredict.evaluation.tables` (CSV / JSON / Markdown export).
"""
