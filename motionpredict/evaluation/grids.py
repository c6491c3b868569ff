"""Grid presets of ``motionpredict evaluate``: which hyper-parameter settings a job searches.

Every job searches its method's grid on the validation window and scores the chosen setting on
the test window (:mod:`motionpredict.evaluation.protocol`). The grid comes from one of two
presets, chosen in the configuration (``[evaluation] grid = "published"`` for every method, or
``grid = "published"`` inside ``[evaluation.grids.METHOD]`` for one method); explicit grid entries
(``[evaluation.grids.METHOD] eta = [...]``) always replace the preset's values of those
hyper-parameters.

``"default"``
    At most a few settings per method (:data:`DEFAULT_GRIDS`), so that one sequence x horizon
    job costs at most 60 s of one core on a 10 Hz marker sequence of 320 s and 120 s on a cine
    (measured with ``benchmarks/default_grids.py``). The settings were picked from the
    published grids with leave-one-sequence-out evidence on the five development marker
    sequences (docs/evaluation.md gives the numbers). The aggregator searches nothing: needing
    no validation window is its point. On cine, the PCA size is not searched: the sequence's
    sidecar ``n_components``, else :data:`DEFAULT_N_COMPONENTS`.
``"published"``
    The forecasters' declared grids (:meth:`motionpredict.forecasters.Forecaster.grid`, the
    published grids where there are some) and PCA sizes 1-4: what evaluation did before the
    presets. Hours per job for the aggregator (480 settings), Kalman (2916) and RLS (900).
"""

from __future__ import annotations

import math
from typing import Any

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters import get

#: Preset names, the first is used when the configuration names none.
PRESETS: tuple[str, ...] = ("default", "published")
#: PCA sizes searched on cine under the ``"published"`` preset.
PUBLISHED_N_COMPONENTS: tuple[int, ...] = (1, 2, 3, 4)
#: PCA size of a cine job under the ``"default"`` preset when the sidecar states none (the
#: pipeline's default, and the size of the reference implementation's stored weights).
DEFAULT_N_COMPONENTS = 3
#: A method that :data:`DEFAULT_GRIDS` does not list keeps its declared grid under
#: ``"default"`` when that has at most this many points, else runs its declared defaults only.
SMALL_GRID = 16

#: The ``"default"`` preset: per method, the settings searched, each given by the values that
#: differ from the declared defaults (``{}`` = the declared defaults). Chosen on the five
#: development marker sequences (10 Hz, h = 0.5 s, causal): among the published grid (or a
#: seeded sample of 100 of its settings), the ``K`` settings with the lowest mean relative
#: validation RMSE, ``K`` being the size with the lowest leave-one-sequence-out test error
#: whose job stays within budget (``benchmarks/default_grids.py --choose``; numbers in
#: docs/evaluation.md).
DEFAULT_GRIDS: dict[str, list[dict[str, Any]]] = {
    "no-prediction": [{}],
    "aggregator": [{}],  # no search: it weighs its experts online, needing no validation window
    "linear": [{}],
    "lms": [{"eta": 0.0005}],
    "rls": [{"recursive": True},
            {"forgetting": 0.998, "delta": 10.0, "recursive": True},
            {"forgetting": 0.995, "delta": 0.1, "recursive": True},
            {"k": 36, "forgetting": 0.995, "delta": 0.1, "per_feature": True,
             "recursive": True}],
    "kalman": [{"q": 0.01, "q_level": 0.001, "damping": 1.0, "refresh": 30,
                "noise_scale": 0.5}],
    "analog": [{"m": 5, "stride": 3},
               {"m": 5, "stride": 3, "library": 3000},
               {"m": 5, "stride": 3, "neighbours": 20}],
    "snap1": [{}, {"k": 24, "q": 30, "eta": 0.02}],
    "rtrl": [{}, {"q": 30, "eta": 0.02}],
    "dni": [{}, {"q": 30, "eta": 0.02}, {"q": 30}, {"q": 30, "eta": 0.005}],
    "uoro": [{}],
    "rnn-fixed": [{}],
    "svr": [{}],  # the 8-setting validation search was worse on test (docs/results-markers.md)
    "transformer": [{}],
    "transformer-population": [{}],
}


def check_preset(value: Any, where: str) -> str:
    """Return ``value`` if it names a preset, else raise :class:`ConfigurationError`."""
    if value not in PRESETS:
        raise ConfigurationError(f"{where}: grid must be one of {list(PRESETS)}, got {value!r}")
    return str(value)


def _size(grid: dict[str, Any]) -> int:
    return math.prod(len(v) if isinstance(v, (list, tuple)) else 1 for v in grid.values())


def _unique(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in points:
        if p not in out:
            out.append(p)
    return out


def method_grid(method: str, override: dict[str, Any] | None = None,
                preset: str = "default") -> list[dict[str, Any]]:
    """Every setting a job searches (full ``{name: value}`` dicts, in order).

    ``"published"``: the declared grid with ``override`` entries replacing its values.
    ``"default"``: the :data:`DEFAULT_GRIDS` settings of the method (a method it does not list:
    its declared grid when that has at most :data:`SMALL_GRID` settings, else its defaults),
    each combined with every combination of the ``override`` values (duplicates dropped).

    Raises
    ------
    ConfigurationError
        Unknown method or preset.
    """
    from motionpredict.evaluation.protocol import expand_grid

    check_preset(preset, f"method {method}")
    declared: dict[str, Any] = dict(get(method).grid())
    if preset == "published" or (method not in DEFAULT_GRIDS
                                 and _size(declared) <= SMALL_GRID):
        declared.update(override or {})
        return expand_grid(declared)
    defaults = {hp.name: hp.default for hp in get(method).hyperparameters}
    points = DEFAULT_GRIDS.get(method, [{}])
    extra = expand_grid(dict(override or {}))
    return _unique([{**defaults, **{k: v for k, v in p.items() if k in defaults}, **o}
                    for p in points for o in extra])


def grid_size(method: str, override: dict[str, Any] | None = None,
              preset: str = "default") -> int:
    """Number of settings :func:`method_grid` returns."""
    if preset == "published":
        grid: dict[str, Any] = dict(get(method).grid())
        grid.update(override or {})
        return _size(grid)
    return len(method_grid(method, override, preset))


def n_components_for(preset: str, configured: list[int] | None,
                     sidecar: Any = None) -> list[int]:
    """PCA sizes a cine job searches.

    Parameters
    ----------
    preset
        The run's global preset.
    configured
        ``[evaluation] n_components`` when the configuration sets it (it wins).
    sidecar
        The sequence sidecar's ``n_components`` (an int or a list), if any.
    """
    if configured:
        return [int(n) for n in configured]
    if preset == "published":
        return list(PUBLISHED_N_COMPONENTS)
    if sidecar is not None:
        vals = sidecar if isinstance(sidecar, list) else [sidecar]
        try:
            out = [int(v) for v in vals]
        except (TypeError, ValueError):
            raise ConfigurationError(f"sidecar n_components must be integers, got {sidecar!r}"
                                     ) from None
        if out and all(n >= 1 for n in out):
            return out
        raise ConfigurationError(f"sidecar n_components must be >= 1, got {sidecar!r}")
    return [DEFAULT_N_COMPONENTS]
