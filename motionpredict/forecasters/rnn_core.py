"""Shared maths of the online recurrent forecasters (RTRL, UORO, SnAp-1, DNI, fixed weights).

This module is the specification that the batched PyTorch/Triton twin in
:mod:`motionpredict.kernels` follows step by step (float64), so every quantity and the exact order
of the operations are spelled out here.

Network (vanilla tanh RNN, Pohl et al.)
---------------------------------------
With ``p`` features, history ``k`` and ``q`` hidden units, ``m = 1 + k p``:

* input ``x_t = [1, y_{t-k+1}, ..., y_t]`` (bias first, then the last ``k`` standardised samples,
  time-major, oldest first, shape ``(m,)``); until ``k`` samples are known the missing ones are
  copies of the first sample;
* ``xi_t = [h_{t-1}, x_t]``, shape ``(q + m,)``;
* ``z_t = W_ab xi_t = W_a h_{t-1} + W_b x_t`` with ``W_ab = [W_a | W_b]``, shape ``(q, q + m)``;
* ``h_t = tanh(z_t)``, ``phi'_t = 1 - h_t**2``;
* ``yhat_t = W_c h_t`` (``W_c``: ``(p, q)``), the forecast of ``y_{t+h}``;
* loss of one prediction ``L = 1/2 ||yhat - y_target||^2``; ``e = yhat - y_target``.

Initialisation (:func:`init_weights`): ``rng = numpy.random.default_rng(seed + n_resets)``, then
``W_a = rng.normal(0, std, (q, q))``, ``W_b = rng.normal(0, std, (q, m))``,
``W_c = rng.normal(0, std, (p, q))`` in that order (``std = 0.02``); ``h_{-1} = 0``; estimators
start at zero. Method-specific draws (DNI's credit model, UORO's signs) continue on the same
generator.

Learning (:meth:`OnlineRNN._learn`), plain SGD with learning rate ``eta``:

* ``G_c = e h^T`` (exact gradient of the readout);
* ``g_h = W_c^T e`` (``dL/dh``, with the ``W_c`` that issued the prediction);
* ``G_ab`` = the method's estimate of ``dL/dW_ab`` from ``g_h`` and its influence estimate;
* each of ``G_a = G_ab[:, :q]``, ``G_b = G_ab[:, q:]`` and ``G_c`` is clipped separately to
  Frobenius norm ``<= clip`` (100): ``G <- G * clip / ||G||`` when ``||G|| > clip``;
* ``W_c <- W_c - eta G_c``; ``W_ab <- W_ab - eta G_ab``.

``variant="as-coded"`` (UORO and RTRL only, to reproduce published numbers): the forecast issued at
``t`` is ``W_c h_{t-1}`` (the state before the newest input) and its record holds ``h_{t-1}`` and
the influence estimate of ``t - 1``; everything else is unchanged.

Order of one step (:meth:`OnlineRNN._predict_and_learn`) when ``y_t`` arrives
-----------------------------------------------------------------------------
``causal`` mode (default):

1. shift ``y_t`` into the input ``x_t``;
2. if the queue holds the record of the prediction issued at ``t - h``, pop it and learn from it
   with target ``y_t`` (the forward quantities, influence estimate and ``W_c`` all as they were
   at ``t - h``), updating the weights;
3. forward with the (updated) weights: ``z_t, h_t``, then the method's estimator update
   (:meth:`OnlineRNN._advance_estimator`) with the same ``W_a``, ``phi'_t`` and ``xi_t``;
4. ``yhat_t = W_c h_t``; push a copy of the record of step ``t`` into the queue (length ``h``);
   return ``yhat_t``.

``reference`` mode (the published behaviour, labelled as such):

1. shift ``y_t`` into the input;
2. forward + estimator update with the current weights (as step 3 above);
3. ``yhat_t = W_c h_t``;
4. when ``y_{t+h}`` (the look-ahead) is given, learn at once from the current quantities with
   target ``y_{t+h}``; return ``yhat_t``.

Compiled path
-------------
The numpy code here and in the method modules is the specification. By default SnAp-1, UORO, DNI
and the fixed-weights RNN run each step as one call of a fused, allocation-free numba kernel
(:mod:`~motionpredict.forecasters.rnn_jit`) on the same arrays, in the same order, agreeing with
this specification to rounding (tested to 1e-12). :attr:`OnlineRNN.use_jit` (set before the first
step) or the environment variable ``MOTIONPREDICT_JIT=0`` selects the numpy path; RTRL always
uses it. The compiled path keeps two extra per-record quantities, the squared norms of the
influence estimate's blocks (``jsq`` for SnAp-1, ``tsq`` for UORO), used for clipping.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
from scipy.linalg import blas

from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.forecasters.base import Forecaster, HyperParameter

#: Weight norm (Frobenius, any matrix) above which a network counts as diverged.
DIVERGENCE_NORM = 1e4

#: Default for :attr:`OnlineRNN.use_jit`: the compiled kernels of
#: :mod:`~motionpredict.forecasters.rnn_jit` unless the environment sets ``MOTIONPREDICT_JIT=0``.
JIT_DEFAULT = os.environ.get("MOTIONPREDICT_JIT", "1") != "0"


@cache
def jit_kernels() -> ModuleType:
    """Import :mod:`~motionpredict.forecasters.rnn_jit` (numba) on first use, not at start-up."""
    from motionpredict.forecasters import rnn_jit

    return rnn_jit


#: Hyper-parameters shared by every online RNN (grids: the published ETH cine grid for ``k``/``q``).
RNN_HYPERPARAMETERS: tuple[HyperParameter, ...] = (
    HyperParameter("k", 12, (6, 12, 18, 24, 30), "history length (samples) fed to the RNN"),
    HyperParameter("q", 40, (10, 30, 50, 70, 90, 110), "number of hidden units"),
    HyperParameter("eta", 0.01, (0.005, 0.01, 0.015, 0.02), "SGD learning rate (1)"),
    HyperParameter("init_std", 0.02, (0.02,), "standard deviation of the initial weights"),
    HyperParameter("clip", 100.0, (100.0,), "gradient clipping threshold (Frobenius, per matrix)"),
)


def init_weights(
    rng: np.random.Generator, *, q: int, m: int, p: int, std: float
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the initial weights in the documented order.

    Parameters
    ----------
    rng
        Generator; ``W_a`` (``(q, q)``), ``W_b`` (``(q, m)``), ``W_c`` (``(p, q)``) are drawn from
        ``N(0, std^2)`` in that order.
    q, m, p
        Hidden units, input length (``1 + k p``), outputs.
    std
        Standard deviation.

    Returns
    -------
    W_ab : ndarray, shape (q, q + m)
        ``[W_a | W_b]`` (C-contiguous).
    W_c : ndarray, shape (p, q)
    """
    w_ab = np.empty((q, q + m))
    w_ab[:, :q] = rng.normal(0.0, std, (q, q))
    w_ab[:, q:] = rng.normal(0.0, std, (q, m))
    w_c = rng.normal(0.0, std, (p, q))
    return w_ab, w_c


def clip_in_place(g: np.ndarray, threshold: float) -> float:
    """Scale ``g`` in place so that its Frobenius norm is ``<= threshold``.

    Parameters
    ----------
    g
        Gradient (any shape; may be a view).
    threshold
        Maximum norm.

    Returns
    -------
    float
        The factor applied (1 when not clipped; NaN norms are left unchanged so that divergence
        is detected downstream).
    """
    norm = float(np.sqrt(np.vdot(g, g))) if g.flags.c_contiguous else float(np.linalg.norm(g))
    if norm > threshold:
        factor = threshold / norm
        g *= factor
        return factor
    return 1.0


def clip_factor(norm: float, threshold: float) -> float:
    """Return the clipping factor ``min(1, threshold / norm)`` for a gradient of norm ``norm``."""
    return threshold / norm if norm > threshold else 1.0


class CausalQueue:
    """Fixed-length FIFO of step records, preallocated (no allocation per step).

    Record ``j`` holds the forward quantities of the prediction issued ``len`` steps ago; in causal
    mode the record of step ``t - h`` is popped at ``t``, when its target ``y_t`` arrives.

    Parameters
    ----------
    length
        Horizon ``h`` (records kept).
    fields
        ``{name: shape}`` of the arrays of one record.

    Attributes
    ----------
    pos : ndarray of int64, shape (2,)
        ``[head, size]``: slot of the oldest record and number of records (an array so that the
        compiled kernels of :mod:`~motionpredict.forecasters.rnn_jit` update it in place).
    """

    def __init__(self, length: int, fields: Mapping[str, tuple[int, ...]]) -> None:
        self.length = int(length)
        self._buf = {n: np.zeros((self.length, *s)) for n, s in fields.items()}
        self.pos = np.zeros(2, dtype=np.int64)

    @property
    def _head(self) -> int:
        """Slot of the oldest record."""
        return int(self.pos[0])

    @property
    def _size(self) -> int:
        return int(self.pos[1])

    def __len__(self) -> int:
        return self._size

    def full(self) -> bool:
        """True when ``length`` records are waiting."""
        return self._size == self.length

    def clear(self) -> None:
        """Drop every record."""
        self.pos[:] = 0

    def push(self, record: Mapping[str, np.ndarray]) -> None:
        """Copy ``record`` into the next free slot (the queue must not be full); buffers whose name
        the record lacks keep their content."""
        size = self._size
        if size >= self.length:
            raise RuntimeError("causal queue overflow")
        slot = (self._head + size) % self.length
        for name, buf in self._buf.items():
            if name in record:
                buf[slot] = record[name]
        self.pos[1] = size + 1

    def pop(self) -> dict[str, np.ndarray]:
        """Remove the oldest record; returns views valid until the next :meth:`push`."""
        if self._size == 0:
            raise RuntimeError("causal queue is empty")
        slot = self._head
        self.pos[0] = (slot + 1) % self.length
        self.pos[1] -= 1
        return {name: buf[slot] for name, buf in self._buf.items()}


class OnlineRNN(Forecaster):
    """Base class of the online tanh RNNs; subclasses supply the recurrent gradient estimator.

    See the module docstring for the equations and the order of the operations. Hyper-parameters:
    ``k`` (history, samples), ``q`` (hidden units), ``eta`` (learning rate), ``init_std``,
    ``clip`` (plus the method's own).

    Attributes
    ----------
    w_ab : ndarray, shape (q, q + m)
        ``[W_a | W_b]``; ``w_a`` and ``w_b`` are views of it.
    w_c : ndarray, shape (p, q)
    h : ndarray, shape (q,)
        Current hidden state ``h_t``.
    xi : ndarray, shape (q + m,)
        ``[h_{t-1}, x_t]`` of the last forward step.
    """

    online = True
    hyperparameters: ClassVar[tuple[HyperParameter, ...]] = RNN_HYPERPARAMETERS
    test_params: ClassVar[dict[str, Any]] = {"k": 3, "q": 6, "eta": 0.02}
    #: Whether the method learns the recurrent weights (False: only ``W_c``).
    learns_recurrent: ClassVar[bool] = True
    #: Whether the method has a compiled step (:meth:`_jit_step`).
    has_jit: ClassVar[bool] = False

    # ------------------------------------------------------------------ set-up
    def _reset_model(self) -> None:
        k, q = int(self.params["k"]), int(self.params["q"])
        if k < 1 or q < 1:
            raise ConfigurationError(f"{self.name}: k and q must be >= 1, got k={k}, q={q}")
        if not float(self.params["eta"]) > 0 or not float(self.params["clip"]) > 0:
            raise ConfigurationError(f"{self.name}: eta and clip must be > 0")
        p = self.n_features
        self.k, self.q, self.p = k, q, p
        if "_use_jit" not in self.__dict__:  # kept through divergence resets
            self._use_jit = JIT_DEFAULT and self.has_jit
        self.m = 1 + k * p
        self.eta = float(self.params["eta"])
        self.clip = float(self.params["clip"])
        self.rng = np.random.default_rng(self.seed + len(self.events))
        self.w_ab, self.w_c = init_weights(
            self.rng, q=q, m=self.m, p=p, std=float(self.params["init_std"])
        )
        self.w_a = self.w_ab[:, :q]
        self.w_b = self.w_ab[:, q:]
        self.h = np.zeros(q)
        self.z = np.zeros(q)
        self.dphi = np.zeros(q)
        self.xi = np.zeros(q + self.m)
        self.xi[q] = 1.0
        self._n_seen = 0
        #: The reference code's stale pairing (UORO, RTRL ``variant="as-coded"``): forecast
        #: ``W_c h_{t-1}`` learned with the previous influence estimate.
        self.as_coded = self.params.get("variant", "correct") == "as-coded"
        self._g_ab = np.zeros((q, q + self.m))  # gradient buffer
        self._gh = np.zeros(q)  # compiled path: g_h = W_c^T e
        self._e = np.zeros(p)  # compiled path: prediction error
        self._reset_estimator()
        self.queue = CausalQueue(self.horizon, self._record_fields())

    def _record_fields(self) -> dict[str, tuple[int, ...]]:
        """Shapes of one record (generic part + :meth:`_estimator_fields`)."""
        q, p, m = self.q, self.p, self.m
        fields = {"h": (q,), "xi": (q + m,), "dphi": (q,), "yhat": (p,), "w_c": (p, q)}
        fields.update(self._estimator_fields())
        return fields

    # ------------------------------------------------------------------ hooks
    def _reset_estimator(self) -> None:
        """Initialise the influence estimate (zero) and method buffers."""

    def _estimator_fields(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the method's quantities kept in a causal record."""
        return {}

    def _advance_estimator(self) -> None:
        """Update the influence estimate after the forward step (``self.xi``, ``self.dphi``,
        ``self.h`` and the weights ``self.w_a`` used by the forward step are current)."""

    def _estimator_record(self) -> dict[str, np.ndarray]:
        """Method quantities of the current step (views; the queue copies them)."""
        return {}

    def _recurrent_gradient(
        self, g_h: np.ndarray, e: np.ndarray, target: np.ndarray, rec: Mapping[str, np.ndarray]
    ) -> np.ndarray | None:
        """Return ``G_ab`` (``(q, q + m)``, may be the buffer ``self._g_ab``) or ``None``.

        Parameters
        ----------
        g_h
            ``dL/dh`` of the record's hidden state, ``W_c^T e``.
        e
            Prediction error ``yhat - target``, ``(p,)``.
        target
            The target ``(p,)``.
        rec
            The record (current quantities in reference mode).
        """
        return None

    # ------------------------------------------------------------------ steps
    def _push_input(self, y: np.ndarray) -> None:
        """Shift ``y_t`` into ``x_t = xi[q:]`` (bias at ``xi[q]``)."""
        q, p = self.q, self.p
        x = self.xi[q + 1 :]
        if self._n_seen == 0:
            x.reshape(self.k, p)[:] = y
        else:
            x[:-p] = x[p:]
            x[-p:] = y
        self._n_seen += 1

    def _forward(self) -> None:
        """``z = W_ab xi``; ``h = tanh z``; ``phi' = 1 - h^2`` (``xi[:q]`` holds ``h_{t-1}``)."""
        np.matmul(self.w_ab, self.xi, out=self.z)
        np.tanh(self.z, out=self.h)
        np.multiply(self.h, self.h, out=self.dphi)
        np.subtract(1.0, self.dphi, out=self.dphi)

    def _live_record(self, yhat: np.ndarray) -> dict[str, np.ndarray]:
        h = self.xi[: self.q] if self.as_coded else self.h
        rec = {"h": h, "xi": self.xi, "dphi": self.dphi, "yhat": yhat, "w_c": self.w_c}
        rec.update(self._estimator_record())
        return rec

    def _learn(self, rec: Mapping[str, np.ndarray], target: np.ndarray) -> None:
        """One SGD step from a record and its target (see the module docstring)."""
        e = rec["yhat"] - target
        if self.learns_recurrent:
            self._update_recurrent(rec["w_c"].T @ e, e, target, rec)
        g_c = np.outer(e, rec["h"])
        clip_in_place(g_c, self.clip)
        self.w_c -= self.eta * g_c

    def _update_recurrent(
        self, g_h: np.ndarray, e: np.ndarray, target: np.ndarray, rec: Mapping[str, np.ndarray]
    ) -> None:
        """Clip and apply ``G_ab`` from :meth:`_recurrent_gradient`; methods whose gradient has
        structure (rank one) override this with a faster, mathematically identical update."""
        g_ab = self._recurrent_gradient(g_h, e, target, rec)
        if g_ab is not None:
            self._apply_gradient(g_ab)

    def _block_factors(self, sq_total: float, sq_a: float) -> tuple[float, float]:
        """Clipping factors of ``G_a`` and ``G_b`` from ``||G||^2`` and ``||G_a||^2``."""
        sq_b = sq_total - sq_a if sq_total >= sq_a else 0.0
        return clip_factor(float(np.sqrt(sq_a)), self.clip), clip_factor(
            float(np.sqrt(sq_b)), self.clip
        )

    def _apply_gradient(self, g_ab: np.ndarray, scale: float = 1.0) -> None:
        """``W_ab <- W_ab - eta clip(scale * g_ab)`` with per-block clipping.

        Parameters
        ----------
        g_ab
            C-contiguous ``(q, q + m)`` array (the gradient up to ``scale``).
        scale
            Scalar factor of the gradient (UORO's ``g_h . s``).
        """
        q = self.q
        flat = g_ab.reshape(-1)
        s2 = scale * scale
        sq_total = s2 * float(np.dot(flat, flat))
        if sq_total <= self.clip * self.clip:  # neither block can exceed the threshold
            fa = fb = 1.0
        else:
            sq_a = s2 * float(np.einsum("ij,ij->", g_ab[:, :q], g_ab[:, :q]))
            fa, fb = self._block_factors(sq_total, sq_a)
        if fa == fb:
            blas.daxpy(flat, self.w_ab.reshape(-1), a=-self.eta * fa * scale)
        else:
            self.w_a -= (self.eta * fa * scale) * g_ab[:, :q]
            self.w_b -= (self.eta * fb * scale) * g_ab[:, q:]

    def _predict(self) -> np.ndarray:
        """``yhat_t = W_c h_t`` (``W_c h_{t-1}`` in the "as coded" variants)."""
        if self.as_coded:
            return self.w_c @ self.xi[: self.q]
        return self.w_c @ self.h

    def _predict_and_learn(self, y: np.ndarray, lookahead: np.ndarray | None) -> np.ndarray:
        self._push_input(y)
        if self.mode == "causal" and self.queue.full():
            self._learn(self.queue.pop(), y)
        self.xi[: self.q] = self.h
        self._forward()
        self._advance_estimator()
        yhat = self._predict()
        if self.mode == "causal":
            self.queue.push(self._live_record(yhat))
        elif lookahead is not None:
            self._learn(self._live_record(yhat), np.asarray(lookahead, dtype=np.float64))
        return yhat

    # ------------------------------------------------------------------ compiled path
    @property
    def use_jit(self) -> bool:
        """Whether each step is one compiled call (:mod:`~motionpredict.forecasters.rnn_jit`)
        rather than the numpy specification of this module.

        Defaults to :data:`JIT_DEFAULT` for the methods that have a compiled step (SnAp-1, UORO,
        DNI, fixed weights; not RTRL). May be changed only before the first step (the compiled
        path keeps extra norms in its records). The two paths agree to rounding (~1e-15).
        """
        return self._use_jit

    @use_jit.setter
    def use_jit(self, value: bool) -> None:
        value = bool(value) and self.has_jit
        if self.t >= 0 and value != self._use_jit:
            raise ConfigurationError(f"{self.name}: use_jit can only be changed before step 0")
        self._use_jit = value

    def _jit_step(self, y: np.ndarray, look: np.ndarray, has_look: bool, out: np.ndarray) -> int:
        """Run one compiled step (see :mod:`~motionpredict.forecasters.rnn_jit`); returns its
        status (-1: non-finite sample, nothing changed; 0: healthy; 1: run the exact checks)."""
        raise NotImplementedError

    def step(self, y: np.ndarray, *, lookahead: np.ndarray | None = None) -> np.ndarray:
        """Receive ``y_t`` and return the forecast of ``y_{t+h}`` (see :meth:`Forecaster.step`).

        With the compiled path the whole step is one call; the contract is the same: a
        non-finite sample raises :class:`~motionpredict.errors.ValidationError`, a divergence
        resets the model, records the event and returns the last sample, and the forecast passes
        the same plausibility guard (:meth:`Forecaster._guard`).
        """
        if not self._use_jit:
            return super().step(y, lookahead=lookahead)
        p = self.n_features
        y = np.array(y, dtype=np.float64).reshape(p)  # copy: no aliasing of input
        has_look = lookahead is not None and self.mode == "reference"
        look = np.asarray(lookahead, dtype=np.float64).reshape(p) if has_look else y
        out = np.empty(p)
        status = self._jit_step(y, look, has_look, out)
        if status < 0:
            raise ValidationError(f"sample {self.t + 1} contains NaN or Inf")
        self.t += 1
        self._last_sample = y
        self._n_seen += 1
        if status:
            with np.errstate(all="ignore"):
                reason = self._check_prediction(out)
            if reason is not None:
                return self._guard(self._recover(reason, y), y, diverged=True)
        return self._guard(out, y)

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("w_a", None)  # views of w_ab: rebuilt on unpickling
        state.pop("w_b", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.w_a = self.w_ab[:, : self.q]
        self.w_b = self.w_ab[:, self.q :]

    # ------------------------------------------------------------------ health
    def _state_arrays(self) -> tuple[np.ndarray, ...]:
        """Arrays checked by :meth:`diverged` (weights + method state)."""
        return (self.w_ab, self.w_c)

    def diverged(self) -> str | None:
        """Return a reason when a weight matrix is non-finite or its norm exceeds 1e4."""
        for arr in self._state_arrays():
            flat = arr.reshape(-1)
            ss = float(np.dot(flat, flat))
            if not np.isfinite(ss):
                return f"non-finite weights ({arr.shape})"
            if ss > DIVERGENCE_NORM**2:
                return f"weights exploded (norm {np.sqrt(ss):.3g} > {DIVERGENCE_NORM:g})"
        return None
