"""RNN trained online by UORO (Tallec & Ollivier 2018): a rank-one unbiased estimate of the
influence matrix, ``dh_t / dW_ab ~ s_t theta_t^T`` (``s``: ``(q,)``, ``theta``: ``(q, q + m)``).

After each forward step (correct variant, the default), with random signs
``nu = 2 rng.integers(0, 2, q) - 1`` drawn from the forecaster's generator:

* ``s' = phi'_t * (W_a s_{t-1})`` (exact tangent propagation ``dF/dh s``);
* ``g = (nu * phi'_t) xi_t^T`` (``nu^T dF/dW_ab``);
* ``rho0 = sqrt(||theta_{t-1}|| / (||s'|| + eps)) + eps``,
  ``rho1 = sqrt(||g|| / (||nu|| + eps)) + eps`` (``eps = 1e-7``);
* ``s_t = rho0 s' + rho1 nu``; ``theta_t = theta_{t-1} / rho0 + g / rho1``.

Stored as ``theta_t = kappa_t Theta_t`` (scalar ``kappa``): ``kappa_t = kappa_{t-1} / rho0`` and
``Theta_t = Theta_{t-1} + g / (rho1 kappa_t)``, refolded when ``kappa`` leaves ``[1e-30, 1e30]``.

The recurrent gradient of a prediction from ``h_t`` is ``G_ab = (g_h . s_t) theta_t`` with
``g_h = W_c^T e``; its expectation over the signs is the RTRL gradient.

``variant="as-coded"`` reproduces the reference implementation (for published numbers only): the
forecast issued at ``t`` is ``W_c h_{t-1}`` (the state *before* the newest input), learned with the
previous estimate ``(s_{t-1}, theta_{t-1})``, and the tangent is the finite difference
``(tanh(z_t + eps W_a s_{t-1}) - h_t) / eps``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy.linalg import blas

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters.base import HyperParameter
from motionpredict.forecasters.registry import register
from motionpredict.forecasters.rnn_core import RNN_HYPERPARAMETERS, OnlineRNN, jit_kernels

VARIANTS = ("correct", "as-coded")


@register
class UOROForecaster(OnlineRNN):
    """Online tanh RNN, recurrent weights learned by UORO (see the module docstring)."""

    name = "uoro"
    has_jit = True
    hyperparameters: ClassVar[tuple[HyperParameter, ...]] = (
        *RNN_HYPERPARAMETERS,
        HyperParameter("eps", 1e-7, (1e-7,), "UORO epsilon (normalisers, finite difference)"),
        HyperParameter(
            "variant",
            "correct",
            ("correct",),
            "'correct' UORO or the reference's 'as-coded' pairing (reproduction only)",
        ),
    )
    test_params: ClassVar[dict[str, Any]] = {"k": 3, "q": 6, "eta": 0.02}

    def _reset_estimator(self) -> None:
        if self.params["variant"] not in VARIANTS:
            raise ConfigurationError(
                f"uoro: variant must be one of {VARIANTS}, got {self.params['variant']!r}"
            )
        self.eps = float(self.params["eps"])
        q, n = self.q, self.q + self.m
        # theta_t is stored as kappa * Theta (scalar kappa): dividing by rho0 costs nothing and
        # the rank-one term is added in place by BLAS dger
        self.s = np.zeros(q)
        self.Theta = np.zeros((q, n))
        self.kappa = np.ones(1)
        self._s_prev = np.zeros(q)
        self._Theta_prev = np.zeros((q, n))
        self._kappa_prev = np.ones(1)
        self._tangent = np.zeros(q)
        self._a = np.zeros(q)
        # compiled path: ||Theta[:, :q]||^2, ||Theta[:, q:]||^2 (now and before the last update),
        # a vector of ones, and a pool of sign draws consumed row by row (see draw_signs)
        self._tsq = np.zeros(2)
        self._tsq_prev = np.zeros(2)
        self._ones = np.ones(q)
        self._signs = np.zeros((0, q), dtype=np.int64)
        self._sign_row = np.zeros(1, dtype=np.int64)

    @property
    def Theta(self) -> np.ndarray:
        """The stored ``Theta`` (``(q, q + m)``): in causal mode the compiled path (correct
        variant) writes each new estimate straight into its causal record, so the live one is
        the newest record."""
        if self._use_jit and self.mode == "causal" and not self.as_coded and self.queue.pos[1]:
            pos = self.queue.pos
            return self.queue._buf["Theta"][(pos[0] + pos[1] - 1) % self.queue.length]
        return self._Theta

    @Theta.setter
    def Theta(self, value: np.ndarray) -> None:
        self._Theta = value

    @property
    def theta(self) -> np.ndarray:
        """The current ``theta_t`` (``(q, q + m)``, a new array)."""
        return self.kappa[0] * self.Theta

    def _estimator_fields(self) -> dict[str, tuple[int, ...]]:
        return {"s": (self.q,), "Theta": (self.q, self.q + self.m), "kappa": (1,), "tsq": (2,)}

    def draw_signs(self) -> np.ndarray:
        """Random signs ``nu`` (``(q,)``, +-1) for one step, from the forecaster's generator.

        ``nu = 2 rng.integers(0, 2, q) - 1``; the compiled path draws ``N`` steps at once
        (``rng.integers(0, 2, (N, q))``, the same stream) into a pool, which is used up first.
        """
        row = int(self._sign_row[0])
        if row < self._signs.shape[0]:
            self._sign_row[0] = row + 1
            return self._signs[row] * 2.0 - 1.0
        return self.rng.integers(0, 2, size=self.q) * 2.0 - 1.0

    def _refill_signs(self) -> None:
        """Draw the next pool of signs (as many steps as fit in ~128 kB, at most 256)."""
        n = max(1, min(256, 16384 // self.q))
        self._signs = self.rng.integers(0, 2, size=(n, self.q))
        self._sign_row[0] = 0

    def _advance_estimator(self) -> None:
        eps = self.eps
        if self.as_coded:  # keep (s_{t-1}, theta_{t-1}) for the prediction from h_{t-1}
            np.copyto(self._s_prev, self.s)
            np.copyto(self._Theta_prev, self.Theta)
            np.copyto(self._kappa_prev, self.kappa)
        tangent = self._tangent
        np.matmul(self.w_a, self.s, out=tangent)
        if self.as_coded:
            tangent = (np.tanh(self.z + eps * tangent) - self.h) / eps
        else:
            tangent *= self.dphi
        nu = self.draw_signs()
        np.multiply(nu, self.dphi, out=self._a)
        norm_g = float(np.linalg.norm(self._a)) * float(np.linalg.norm(self.xi))
        flat = self.Theta.reshape(-1)
        norm_theta = abs(self.kappa[0]) * float(np.sqrt(np.dot(flat, flat)))
        rho0 = np.sqrt(norm_theta / (np.linalg.norm(tangent) + eps)) + eps
        rho1 = np.sqrt(norm_g / (np.sqrt(self.q) + eps)) + eps
        np.multiply(tangent, rho0, out=self.s)
        self.s += rho1 * nu
        kappa = self.kappa[0] / rho0
        if not 1e-30 < abs(kappa) < 1e30:  # fold the scale into Theta
            self.Theta *= kappa
            kappa = 1.0
        self.kappa[0] = kappa
        self._a *= 1.0 / (rho1 * kappa)
        blas.dger(1.0, self.xi, self._a, a=self.Theta.T, overwrite_a=1)

    def _estimator_record(self) -> dict[str, np.ndarray]:
        if self.as_coded:
            return {"s": self._s_prev, "Theta": self._Theta_prev, "kappa": self._kappa_prev}
        return {"s": self.s, "Theta": self.Theta, "kappa": self.kappa}

    def _scale(self, g_h: np.ndarray, rec: Mapping[str, np.ndarray]) -> float:
        return float(np.dot(g_h, rec["s"])) * float(rec["kappa"][0])

    def _recurrent_gradient(
        self, g_h: np.ndarray, e: np.ndarray, target: np.ndarray, rec: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        np.multiply(rec["Theta"], self._scale(g_h, rec), out=self._g_ab)
        return self._g_ab

    def _update_recurrent(
        self, g_h: np.ndarray, e: np.ndarray, target: np.ndarray, rec: Mapping[str, np.ndarray]
    ) -> None:
        self._apply_gradient(rec["Theta"], scale=self._scale(g_h, rec))

    def _jit_step(self, y: np.ndarray, look: np.ndarray, has_look: bool, out: np.ndarray) -> int:
        if self._sign_row[0] >= self._signs.shape[0]:
            self._refill_signs()
        qb = self.queue._buf
        return jit_kernels().uoro_step(
            y, look, has_look, self.mode == "causal", self.as_coded, self._n_seen, self.k,
            self.eta, self.clip, self.eps,
            self.w_ab, self.w_c, self.h, self.z, self.dphi, self.xi, self.s, self._Theta,
            self.kappa, self._tsq, self._s_prev, self._Theta_prev, self._kappa_prev,
            self._tsq_prev, self._tangent, self._a, self._ones, self._gh, self._e,
            self._signs, self._sign_row,
            self.queue.pos, qb["h"], qb["xi"], qb["dphi"], qb["yhat"], qb["w_c"], qb["s"],
            qb["Theta"], qb["kappa"], qb["tsq"], out,
        )  # fmt: skip
