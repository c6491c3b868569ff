"""RNN trained online by SnAp-1 (Menick et al. 2021): the influence matrix restricted to the
parameters that feed each hidden unit directly.

Entry ``J[i, c] ~ dh_{t,i} / dW_ab[i, c]`` (shape ``(q, q + m)``; every other entry of the RTRL
influence matrix is dropped). After each forward step

``J_t = diag(phi'_t * diag(W_a)) J_{t-1} + phi'_t xi_t^T``

(the RTRL recursion with the off-pattern entries set to zero after each step), and the recurrent
gradient is ``G_ab[i, c] = g_h[i] J_t[i, c]`` with ``g_h = W_c^T e``. Exact when ``q = 1`` or when
``W_a`` is diagonal. Cost ``O(q (q + m))`` per step.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from motionpredict.forecasters.registry import register
from motionpredict.forecasters.rnn_core import OnlineRNN


@register
class SnAp1Forecaster(OnlineRNN):
    """Online tanh RNN, recurrent weights learned by SnAp-1 (see the module docstring)."""

    name = "snap1"

    def _reset_estimator(self) -> None:
        self.J = np.zeros((self.q, self.q + self.m))
        self._decay = np.zeros(self.q)
        self._diag_idx = np.arange(self.q)

    def _estimator_fields(self) -> dict[str, tuple[int, ...]]:
        return {"J": (self.q, self.q + self.m)}

    def _advance_estimator(self) -> None:
        np.multiply(self.dphi, self.w_a[self._diag_idx, self._diag_idx], out=self._decay)
        self.J *= self._decay[:, None]
        self.J += self.dphi[:, None] * self.xi

    def _estimator_record(self) -> dict[str, np.ndarray]:
        return {"J": self.J}

    def _recurrent_gradient(
        self, g_h: np.ndarray, e: np.ndarray, target: np.ndarray, rec: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        np.multiply(rec["J"], g_h[:, None], out=self._g_ab)
        return self._g_ab
