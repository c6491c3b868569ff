"""RNN trained online by real-time recurrent learning (RTRL): the exact influence matrix.

The influence matrix ``J_t = dh_t / dW_ab`` is kept as ``J[i, r, c] = dh_{t,i} / dW_ab[r, c]``
(shape ``(q, q, q + m)``) and updated after each forward step by

``J_t = diag(phi'_t) (W_a J_{t-1} + I_t)``, with ``I_t[i, r, c] = delta_{ir} xi_t[c]``,

using the same ``W_a`` as the forward step (Williams & Zipser 1989). The recurrent gradient is
``G_ab = sum_i g_h[i] J_t[i]`` with ``g_h = W_c^T e``. In causal mode the record keeps
``dyhat/dW_ab = W_c J_t`` (``(p, q, q + m)``, with the ``W_c`` that issued the prediction) and the
gradient is ``e^T (W_c J)``. Cost ``O(q^3 (q + m))`` per step.

``variant="as-coded"`` reproduces the reference implementation (published numbers only): the
forecast issued at ``t`` is ``W_c h_{t-1}`` (the state before the newest input), learned with
``J_{t-1}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters.base import HyperParameter
from motionpredict.forecasters.registry import register
from motionpredict.forecasters.rnn_core import RNN_HYPERPARAMETERS, OnlineRNN

VARIANTS = ("correct", "as-coded")


@register
class RTRLForecaster(OnlineRNN):
    """Online tanh RNN, recurrent weights learned by exact RTRL (see the module docstring)."""

    name = "rtrl"
    hyperparameters: ClassVar[tuple[HyperParameter, ...]] = (
        *RNN_HYPERPARAMETERS,
        HyperParameter(
            "variant",
            "correct",
            ("correct",),
            "'correct' RTRL or the reference's 'as-coded' stale pairing (reproduction only)",
        ),
    )

    def _reset_estimator(self) -> None:
        if self.params["variant"] not in VARIANTS:
            raise ConfigurationError(
                f"rtrl: variant must be one of {VARIANTS}, got {self.params['variant']!r}"
            )
        q, n = self.q, self.q + self.m
        self.J = np.zeros((q, q, n))
        self._J_next = np.zeros((q, q, n))

    def _estimator_fields(self) -> dict[str, tuple[int, ...]]:
        return {"dyhat": (self.p, self.q, self.q + self.m)}

    @staticmethod
    def _diagonal(arr: np.ndarray) -> np.ndarray:
        """Writable view ``D[i, c] = arr[i, i, c]`` of a ``(q, q, n)`` array."""
        s0, s1, s2 = arr.strides
        return np.lib.stride_tricks.as_strided(
            arr, shape=(arr.shape[0], arr.shape[2]), strides=(s0 + s1, s2)
        )

    def _advance_estimator(self) -> None:
        q, n = self.q, self.q + self.m
        nxt = self._J_next
        # diag(phi') W_a J_{t-1} in one product (phi' folded into the q x q factor), then the
        # immediate term phi'_i xi on the diagonal blocks
        np.matmul(
            self.dphi[:, None] * self.w_a, self.J.reshape(q, q * n), out=nxt.reshape(q, q * n)
        )
        self._diagonal(nxt)[...] += self.dphi[:, None] * self.xi
        self.J, self._J_next = nxt, self.J

    def _estimator_record(self) -> dict[str, np.ndarray]:
        # after _advance_estimator, _J_next holds J_{t-1} (the buffers are swapped)
        jac = self._J_next if self.as_coded else self.J
        if self.mode != "causal":
            return {"J": jac}
        q, n = self.q, self.q + self.m
        return {"dyhat": (self.w_c @ jac.reshape(q, q * n)).reshape(self.p, q, n)}

    def _recurrent_gradient(
        self, g_h: np.ndarray, e: np.ndarray, target: np.ndarray, rec: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        q, n = self.q, self.q + self.m
        out = self._g_ab.reshape(q * n)
        if "dyhat" in rec:
            np.matmul(e, rec["dyhat"].reshape(self.p, q * n), out=out)
        else:
            np.matmul(g_h, rec.get("J", self.J).reshape(q, q * n), out=out)
        return self._g_ab

    def _state_arrays(self) -> tuple[np.ndarray, ...]:
        return (self.w_ab, self.w_c)
