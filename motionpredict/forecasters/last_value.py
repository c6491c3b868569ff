"""The "no prediction" baseline: the forecast of ``y_{t+h}`` is ``y_t``."""

from __future__ import annotations

import numpy as np

from motionpredict.forecasters.base import Forecaster
from motionpredict.forecasters.registry import register


@register
class NoPrediction(Forecaster):
    """Last acquired value; the error every method must beat. ``online`` is irrelevant."""

    name = "no-prediction"
    online = False

    def _reset_model(self) -> None:
        pass

    def _predict_and_learn(self, y: np.ndarray, lookahead: np.ndarray | None) -> np.ndarray:
        return y.copy()
