"""RNN trained online by SnAp-1 (Menick et al. 2021): the influence matrix restricted to the
parameters that feed each hidden unit directly.

Entry ``J[i, c] ~ dh_{t,i} / dW_ab[i, c]`` (shape ``(q, q + m)``; every other entry of the RTRL
influence matrix is dropped). After each forward step

``J_t = diag(phi'_t * diag(W_a)) J_{t-1} + phi'_t xi_t^T``

(the RTRL recursion with the off-pattern entries set to zero after each step), and the recurrent
gradient is ``G_ab[i, c] = g_h[i] J_t[i, c]`` with ``g_h = W_c^T e``. Exact when ``q = 1`` or when
``W_a`` is diagonal. Cost ``O(q (q + m))`` per step.

Storage: ``J = diag(s) Jt`` with a row scale ``s`` (``(q,)``), so that the decay is a vector
product and the rank-one term an in-place BLAS ``dger``: ``s_t = s_{t-1} * phi'_t * diag(W_a)``,
``Jt_t = Jt_{t-1} + (phi'_t / s_t) xi_t^T``. A row is refolded (``Jt_i <- s_i Jt_i``,
``s_i <- 1``) when ``|s_i|`` leaves ``[1e-100, 1e100]`` (including ``s_i = 0``). The same numbers
up to rounding as the direct recursion (:attr:`J` returns ``diag(s) Jt``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.linalg import blas

from motionpredict.forecasters.registry import register
from motionpredict.forecasters.rnn_core import OnlineRNN, jit_kernels

_LOW, _HIGH = 1e-100, 1e100


@register
class SnAp1Forecaster(OnlineRNN):
    """Online tanh RNN, recurrent weights learned by SnAp-1 (see the module docstring)."""

    name = "snap1"
    has_jit = True

    def _reset_estimator(self) -> None:
        self._Jt = np.zeros((self.q, self.q + self.m))
        self.s = np.ones(self.q)
        self._a = np.zeros(self.q)
        self._abs = np.zeros(self.q)
        #: compiled path: ``||Jt[i, :q]||^2`` and ``||Jt[i, q:]||^2`` per row (clipping norms)
        self._jsq = np.zeros((self.q, 2))
        self._cg = np.zeros(self.q)

    @property
    def _w_a_diag(self) -> np.ndarray:
        """Read-only strided view of ``diag(W_a)`` (no copy)."""
        w = self.w_ab
        return np.lib.stride_tricks.as_strided(
            w, shape=(self.q,), strides=(w.strides[0] + w.strides[1],), writeable=False
        )

    @property
    def Jt(self) -> np.ndarray:
        """The stored ``Jt`` (``(q, q + m)``): in causal mode the compiled path writes each new
        estimate straight into its causal record, so the live one is the newest record."""
        if self._use_jit and self.mode == "causal" and self.queue.pos[1] > 0:
            pos = self.queue.pos
            return self.queue._buf["Jt"][(pos[0] + pos[1] - 1) % self.queue.length]
        return self._Jt

    @property
    def J(self) -> np.ndarray:
        """The SnAp-1 influence matrix ``diag(s) Jt`` (``(q, q + m)``, a new array)."""
        return self.s[:, None] * self.Jt

    def _estimator_fields(self) -> dict[str, tuple[int, ...]]:
        return {"Jt": (self.q, self.q + self.m), "s": (self.q,), "jsq": (self.q, 2)}

    def _advance_estimator(self) -> None:
        s = self.s
        s *= self.dphi
        s *= self._w_a_diag
        np.abs(s, out=self._abs)
        if self._abs.min() < _LOW or self._abs.max() > _HIGH:
            rows = (self._abs < _LOW) | (self._abs > _HIGH)
            self.Jt[rows] *= s[rows, None]
            s[rows] = 1.0
        np.divide(self.dphi, s, out=self._a)
        blas.dger(1.0, self.xi, self._a, a=self.Jt.T, overwrite_a=1)

    def _estimator_record(self) -> dict[str, np.ndarray]:
        return {"Jt": self.Jt, "s": self.s}

    def _recurrent_gradient(
        self, g_h: np.ndarray, e: np.ndarray, target: np.ndarray, rec: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        np.multiply(rec["Jt"], (g_h * rec["s"])[:, None], out=self._g_ab)
        return self._g_ab

    def _jit_step(self, y: np.ndarray, look: np.ndarray, has_look: bool, out: np.ndarray) -> int:
        qb = self.queue._buf
        return jit_kernels().snap1_step(
            y, look, has_look, self.mode == "causal", self._n_seen, self.k, self.eta, self.clip,
            self.w_ab, self.w_c, self.h, self.z, self.dphi, self.xi, self._Jt, self.s, self._jsq,
            self._a, self._cg, self._gh, self._e,
            self.queue.pos, qb["h"], qb["xi"], qb["dphi"], qb["yhat"], qb["w_c"], qb["Jt"], qb["s"],
            qb["jsq"], out,
        )  # fmt: skip
