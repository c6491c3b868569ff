"""RNN with fixed random recurrent weights: only the linear readout ``W_c`` learns.

A lower bound for the online recurrent learners (an echo-state-like reservoir with the
reference's ``N(0, 0.02^2)`` initialisation): ``W_a`` and ``W_b`` keep their initial values and
``W_c <- W_c - eta clip(e h^T)``.
"""

from __future__ import annotations

import numpy as np

from motionpredict.forecasters.registry import register
from motionpredict.forecasters.rnn_core import OnlineRNN, jit_kernels


@register
class FixedWeightsRNNForecaster(OnlineRNN):
    """Online tanh RNN whose recurrent weights stay at their random initial values."""

    name = "rnn-fixed"
    learns_recurrent = False
    has_jit = True

    def _jit_step(self, y: np.ndarray, look: np.ndarray, has_look: bool, out: np.ndarray) -> int:
        qb = self.queue._buf
        return jit_kernels().fixed_step(
            y, look, has_look, self.mode == "causal", self._n_seen, self.k, self.eta, self.clip,
            self.w_ab, self.w_c, self.h, self.z, self.dphi, self.xi, self._e,
            self.queue.pos, qb["h"], qb["xi"], qb["dphi"], qb["yhat"], qb["w_c"], out,
        )  # fmt: skip
