"""Forecasters of multivariate respiratory series (PCA weights, marker coordinates).

All methods follow :class:`~motionpredict.forecasters.base.Forecaster` and register themselves by
name; ``get("rtrl")`` returns a class, ``available()`` lists names.
"""

# Each module below registers its methods on import (one line per module).
from motionpredict.forecasters import (
    aggregator,  # noqa: F401
    analog,  # noqa: F401
    hybrid,  # noqa: F401
    kalman,  # noqa: F401
    last_value,  # noqa: F401
    linear,  # noqa: F401
    lms,  # noqa: F401
    rls,  # noqa: F401
    rnn_dni,  # noqa: F401
    rnn_fixed,  # noqa: F401
    rnn_rtrl,  # noqa: F401
    rnn_snap1,  # noqa: F401
    rnn_uoro,  # noqa: F401
    svr,  # noqa: F401
    transformer,  # noqa: F401
)
from motionpredict.forecasters.base import (
    MODES,
    DivergenceEvent,
    Forecaster,
    GuardEvent,
    HyperParameter,
    Mode,
    OnlineRun,
    Standardizer,
    guard_summary,
    run_online,
)
from motionpredict.forecasters.registry import available, get, register

__all__ = [
    "MODES",
    "DivergenceEvent",
    "Forecaster",
    "GuardEvent",
    "HyperParameter",
    "Mode",
    "OnlineRun",
    "Standardizer",
    "available",
    "get",
    "guard_summary",
    "register",
    "run_online",
]
