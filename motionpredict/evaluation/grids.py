"""Grid presets of ``motionpredict evaluate``: which hyper-parameter settings a job searches.

Every job searches its method's grid on the validation window and scores the chosen setting on
the test window (:mod:`motionpredict.evaluation.protocol`). The grid comes from one of two
presets, chosen in the configuration (``[evaluation] grid = "published"`` for every method, or
``grid = "published"`` inside ``[evaluation.grids.METHOD]`` for one method); explicit grid entries
(``[evaluation.grids.METHOD] eta = [...]``) always replace the preset's values of those
hyper-parameters.

``"default"``
    A few settings per method, chosen so that one sequence x horizon job costs at most about
    60 s of one core on a 10 Hz marker sequence of 320 s and 120 s on a cine (measured with
    ``benchmarks/default_grids.py``). The points were picked from the published grids with
    leave-one-sequence-out evidence on the five development marker sequences (docs/evaluation.md
    gives the numbers). The aggregator searches nothing: needing no validation window is its
    point. On cine, the PCA size is not searched: the sequence's sidecar ``n_components``, else
    :data:`DEFAULT_N_COMPONENTS`.
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

#: The ``"default"`` preset: per method, the values searched (hyper-parameters not named keep
#: their declared default). Chosen from the declared grids on the five development marker
#: sequences (10 Hz, h = 0.5 s; ``benchmarks/default_grids.py --choose``).
DEFAULT_GRIDS: dict[str, dict[str, tuple[Any, ...]]] = {
    "no-prediction": {},
    "aggregator": {},  # no search: it weighs its experts online
    "linear": {"k": (12, 24, 36, 48, 60)},
    "lms": {"k": (12, 24, 36, 48, 60), "eta": (0.0001, 0.0002, 0.0005)},
    "rls": {"k": (12, 24, 48)},
    "kalman": {"harmonics": (1, 2, 3)},
    "analog": {"m": (5, 10, 20)},
    "snap1": {"eta": (0.005, 0.01, 0.02)},
    "rtrl": {"eta": (0.005, 0.02)},
    "dni": {"eta": (0.005, 0.02)},
    "uoro": {},
    "rnn-fixed": {"eta": (0.005, 0.01, 0.02)},
    "svr": {},
    "transformer": {},
    "transformer-population": {},
}


def check_preset(value: Any, where: str) -> str:
    """Return ``value`` if it names a preset, else raise :class:`ConfigurationError`."""
    if value not in PRESETS:
        raise ConfigurationError(f"{where}: grid must be one of {list(PRESETS)}, got {value!r}")
    return str(value)


def _declared_defaults(method: str) -> dict[str, tuple[Any, ...]]:
    return {hp.name: (hp.default,) for hp in get(method).hyperparameters}


def _size(grid: dict[str, Any]) -> int:
    return math.prod(len(v) if isinstance(v, (list, tuple)) else 1 for v in grid.values())


def preset_grid(method: str, preset: str = "default") -> dict[str, tuple[Any, ...]]:
    """The ``{name: values}`` grid of ``method`` under ``preset`` (every hyper-parameter named).

    Raises
    ------
    ConfigurationError
        Unknown method or preset.
    """
    check_preset(preset, f"method {method}")
    declared = get(method).grid()
    if preset == "published":
        return dict(declared)
    grid = _declared_defaults(method)
    if method in DEFAULT_GRIDS:
        for name, values in DEFAULT_GRIDS[method].items():
            if name in grid:  # a name a later version of the method dropped is ignored
                grid[name] = tuple(values)
    elif _size(declared) <= SMALL_GRID:
        grid = dict(declared)
    return grid


def method_grid(method: str, override: dict[str, Any] | None = None,
                preset: str = "default") -> list[dict[str, Any]]:
    """Every setting a job searches: the preset's grid with ``override`` entries replacing it."""
    from motionpredict.evaluation.protocol import expand_grid

    grid: dict[str, Any] = dict(preset_grid(method, preset))
    grid.update(override or {})
    return expand_grid(grid)


def grid_size(method: str, override: dict[str, Any] | None = None,
              preset: str = "default") -> int:
    """Number of settings :func:`method_grid` returns (without expanding it)."""
    grid: dict[str, Any] = dict(preset_grid(method, preset))
    grid.update(override or {})
    return _size(grid)


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
