"""RNN trained online by decoupled neural interfaces (DNI, Jaderberg et al. 2017) with a linear
synthetic-gradient ("credit") model, as in Marschall et al. (2020) and the reference code.

The credit of the hidden state, ``c ~ dL_future / dh``, is modelled as ``c = xt A`` with
``xt = [h, y_target, 1]`` (``(q + p + 1,)``) and ``A`` of shape ``(q + p + 1, q)``, initialised
``N(0, 1/q)`` from the forecaster's generator after the weights. At each learning step from a
record (``h``, ``xi``, ``phi'``, ``W_a`` as at the prediction) and its target:

1. ``xt_next = [h, target, 1]``; ``D = diag(phi') W_a``; ``g_h = W_c^T e``;
2. ``f = xt_prev A - g_h - (xt_next A) D`` (the bootstrapped credit error);
3. ``A <- A - lr_A (xt_prev^T f - xt_next^T (f D^T))`` (SGD on ``||f||^2``, unclipped,
   ``lr_A = 0.002``);
4. ``c = xt_prev A`` (updated ``A``); ``G_ab = (c * phi') xi^T``;
5. ``xt_prev <- xt_next`` (initially ``[0, ..., 0, 1]``).

Cost ``O(q (q + m + p))`` per step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy.linalg import blas

from motionpredict.forecasters.base import HyperParameter
from motionpredict.forecasters.registry import register
from motionpredict.forecasters.rnn_core import RNN_HYPERPARAMETERS, OnlineRNN, jit_kernels


@register
class DNIForecaster(OnlineRNN):
    """Online tanh RNN, recurrent weights learned from a linear synthetic gradient."""

    name = "dni"
    hyperparameters: ClassVar[tuple[HyperParameter, ...]] = (
        *RNN_HYPERPARAMETERS,
        HyperParameter("lr_A", 0.002, (0.002,), "learning rate of the credit model (1)"),
    )
    test_params: ClassVar[dict[str, Any]] = {"k": 3, "q": 6, "eta": 0.02}

    has_jit = True

    def _reset_estimator(self) -> None:
        q, p = self.q, self.p
        self.A = self.rng.normal(0.0, 1.0 / np.sqrt(q), (q + p + 1, q))
        self.lr_A = float(self.params["lr_A"])
        self.xt_prev = np.zeros(q + p + 1)
        self.xt_prev[-1] = 1.0
        self._xt_next = np.zeros(q + p + 1)
        self._xt_next[-1] = 1.0
        self._closs = np.full(1, np.nan)
        # compiled-path buffers: c_prev, c_next, f, f D^T, u = c * phi', clipped xi
        self._c_prev, self._c_next, self._f, self._f_dt, self._u = np.zeros((5, q))
        self._xs = np.zeros(q + self.m)

    @property
    def credit_loss(self) -> float:
        """``1/2 ||f||^2`` of the last learning step (the credit model's own loss; NaN before)."""
        return float(self._closs[0])

    @credit_loss.setter
    def credit_loss(self, value: float) -> None:
        self._closs[0] = value

    def _estimator_fields(self) -> dict[str, tuple[int, ...]]:
        return {"w_a": (self.q, self.q)}

    def _estimator_record(self) -> dict[str, np.ndarray]:
        return {"w_a": self.w_a}

    def _credit(
        self, g_h: np.ndarray, target: np.ndarray, rec: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        """Steps 1-5 of the module docstring up to ``c * phi'`` (updates ``A`` and ``xt_prev``)."""
        q, p = self.q, self.p
        dphi, w_a = rec["dphi"], rec["w_a"]
        xt_prev, xt_next = self.xt_prev, self._xt_next
        xt_next[:q] = rec["h"]
        xt_next[q : q + p] = target
        c_prev = xt_prev @ self.A
        c_next = xt_next @ self.A
        f = c_prev - g_h - (c_next * dphi) @ w_a
        self.credit_loss = 0.5 * float(np.dot(f, f))
        f_dt = dphi * (w_a @ f)
        # A <- A - lr_A (xt_prev^T f - xt_next^T f_dt), in place on A^T (Fortran order)
        blas.dger(-self.lr_A, f, xt_prev, a=self.A.T, overwrite_a=1)
        blas.dger(self.lr_A, f_dt, xt_next, a=self.A.T, overwrite_a=1)
        c = xt_prev @ self.A
        self.xt_prev, self._xt_next = xt_next, xt_prev
        return c * dphi

    def _recurrent_gradient(
        self, g_h: np.ndarray, e: np.ndarray, target: np.ndarray, rec: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        np.multiply(self._credit(g_h, target, rec)[:, None], rec["xi"], out=self._g_ab)
        return self._g_ab

    def _update_recurrent(
        self, g_h: np.ndarray, e: np.ndarray, target: np.ndarray, rec: Mapping[str, np.ndarray]
    ) -> None:
        # rank one: ||G_a|| = ||u|| ||xi_a||, ||G_b|| = ||u|| ||xi_b||; one BLAS dger on W_ab^T
        u = self._credit(g_h, target, rec)
        xi = rec["xi"]
        q = self.q
        su = float(np.dot(u, u))
        fa, fb = self._block_factors(su * float(np.dot(xi, xi)), su * float(np.dot(xi[:q], xi[:q])))
        xs = xi.copy()
        xs[:q] *= fa
        xs[q:] *= fb
        blas.dger(-self.eta, xs, u, a=self.w_ab.T, overwrite_a=1)

    def _state_arrays(self) -> tuple[np.ndarray, ...]:
        return (self.w_ab, self.w_c, self.A)

    def _jit_step(self, y: np.ndarray, look: np.ndarray, has_look: bool, out: np.ndarray) -> int:
        qb = self.queue._buf
        return jit_kernels().dni_step(
            y, look, has_look, self.mode == "causal", self._n_seen, self.k, self.eta, self.clip,
            self.lr_A, self.w_ab, self.w_c, self.h, self.z, self.dphi, self.xi, self.A,
            self.xt_prev, self._xt_next, self._c_prev, self._c_next, self._f, self._f_dt, self._u,
            self._gh, self._e, self._xs, self._closs,
            self.queue.pos, qb["h"], qb["xi"], qb["dphi"], qb["yhat"], qb["w_c"], qb["w_a"], out,
        )  # fmt: skip
