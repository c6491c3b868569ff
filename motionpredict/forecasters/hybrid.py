"""Residual hybrid: an online RNN (SnAp-1) learns the correction to a causal linear forecast.

Every sample, a causal recursive-least-squares model (:class:`~motionpredict.forecasters.rls.RLS`,
the *base*) forecasts ``b_t ~ y_{t+h}``; a small tanh RNN trained online forecasts the part the
base misses. With ``p`` features, ``q`` hidden units, ``k`` lags ``s`` samples apart
(standardised samples, so every quantity is in training-window standard deviations)::

    u_t    = u_{t-1} + (1 - a) (y_t - u_{t-1})          input denoising (a = ``smooth``, 0: none)
    x_t    = [1, u_{t-s} - u_t, ..., u_{t-ks} - u_t, b_t - y_t, e_t]      (m values)
    h_t    = tanh(W_a h_{t-1} + W_b x_t)                (q,)
    r^j_t  = W_c^j h_t                                  (p,) head j
    c_t    = B tanh(r^H_t / B)                          bounded correction (B = ``bound``)
    yhat   = b_t + c_t                                  the forecast of y_{t+h}

``e_t = y_t - b_{t-h}`` is the base's newest known error (``feed_error``). ``W_c`` starts at
zero, so until the data support a correction the forecast **is** the causal RLS forecast
(exactly); ``|yhat - b_t| <= B`` always (a bounded output).

Heads and targets (causal: a head learns when its own target is acquired)
    ``heads = "single"``: one head ``H = h``, target ``d = y_t - b_{t-h}`` (learned at ``t``).
    ``heads = "multi"``: heads ``j = 1..h`` share the state; head ``j`` forecasts the increment
    ``y_{t+j} - y_t`` (head ``h`` the base residual, as above) and learns at ``t + j`` from the
    record kept at ``t``: the shared weights learn every sample from a target one sample old
    instead of only from one ``h`` samples old. Auxiliary heads' losses are weighted
    ``aux_weight``; the output uses head ``h`` only.

Learning (SnAp-1, Menick et al. 2021, as :mod:`~motionpredict.forecasters.rnn_snap1`)
    ``J_t = diag(phi'_t * diag(W_a)) J_{t-1} + phi'_t xi_t^T`` with ``xi_t = [h_{t-1}, x_t]``;
    for a target arriving for head ``j`` issued at ``t0`` with output error
    ``g = (c - d) * dc/dr`` (``dc/dr = 1 - (c/B)^2`` for the bounded head, 1 otherwise):
    ``G_c^j += g h_{t0}^T``, ``G_ab[i, :] += (W_c^{jT} g)_i J_{t0}[i, :]`` (``W_c``: the current
    readout, not the one of ``t0`` as in :mod:`~motionpredict.forecasters.rnn_core`). Step sizes
    (``step``):

    * ``"sgd"``: ``W <- W - eta G`` (gradients clipped to Frobenius norm 100 per block);
    * ``"nlms"``: normalised: ``W_c <- W_c - eta G_c / (eps + |h|^2)``,
      ``W_ab <- W_ab - eta G_ab / (eps + |xi|^2)`` (scale-free, as NLMS);
    * ``"rmsprop"``: per parameter, ``v <- beta v + (1 - beta) G^2``,
      ``W <- W - eta G / (sqrt(v) + eps)`` (``beta = 0.99``, ``eps = 1e-8``).

Population prior (``prior_path``)
    :func:`train_prior` runs the hybrid causally over other patients' standardised series (each
    series a fresh base and state, the RNN weights and step-size statistics carried over,
    ``epochs`` passes, its own ``eta``) and writes the RNN weights to an ``.npz``; a hybrid given
    ``prior_path`` starts from them (and from them again after a divergence reset) instead of
    the random draw, then keeps adapting to the patient with its own ``eta``. The file records
    the settings that fix the weights' meaning (horizon, features, ``k``, ``stride``, ``q``,
    ``heads``, ``feed_error``, ``smooth``, ``bound``, base settings); any difference is refused.

Causal mode updates on targets once acquired. Reference mode (look-ahead) is not offered by this
new method: asking for it is refused (``has_reference_mode = False``), so that no result labelled
"reference" holds causal numbers; the published methods keep their reference mode.

Cost per step ``O(n_heads q (q + m))`` (one compiled numba kernel) plus the RLS base
(``O(d^2)``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from motionpredict.errors import ConfigurationError, InputFileError
from motionpredict.forecasters.base import Forecaster, HyperParameter, run_online
from motionpredict.forecasters.registry import register
from motionpredict.forecasters.rls import RLS

STEPS = ("sgd", "nlms", "rmsprop")
#: Settings a prior file must share with the forecaster that loads it.
PRIOR_KEYS = ("base_k", "base_stride", "base_forgetting", "k", "stride", "q", "heads", "bound",
              "smooth", "feed_error")
#: Arrays of the RNN a prior carries over.
PRIOR_ARRAYS = ("w_a", "w_b", "w_c", "v_ab", "v_c")


@register
class HybridSnAp1(Forecaster):
    """Causal RLS forecast plus a bounded correction learned online by a SnAp-1 RNN."""

    name = "snap1-hybrid"
    online = True
    has_reference_mode = False
    hyperparameters = (
        HyperParameter("base_k", 4, (2, 4, 12), "lags of the multivariate RLS base"),
        HyperParameter("base_stride", 2, (1, 2), "samples between two lags of the base"),
        HyperParameter("base_forgetting", 0.999, (0.995, 0.999), "forgetting of the base"),
        HyperParameter("k", 10, (5, 10, 20), "lags of the RNN input"),
        HyperParameter("stride", 2, (1, 2), "samples between two RNN input lags"),
        HyperParameter("q", 16, (8, 16, 32), "hidden units"),
        HyperParameter("eta", 0.002, (0.0005, 0.001, 0.002, 0.005), "learning rate"),
        HyperParameter("step", "rmsprop", STEPS, "step-size rule: sgd, nlms or rmsprop"),
        HyperParameter("heads", "single", ("single", "multi"), "one head, or heads 1..h"),
        HyperParameter("aux_weight", 0.3, (0.1, 0.3, 1.0), "loss weight of the auxiliary heads"),
        HyperParameter("bound", 0.5, (0.25, 0.5, 1.0), "bound B of the correction (std units)"),
        HyperParameter("smooth", 0.0, (0.0, 0.5), "input denoising a (exponential smoothing)"),
        HyperParameter("feed_error", True, (False, True), "input the base's newest error"),
        HyperParameter("init_scale", 1.0, (0.5, 1.0), "input weight scale x 1/sqrt(m)"),
        HyperParameter("prior_path", None, (None,), "population prior .npz (train_prior)"),
    )
    test_params: ClassVar[dict[str, Any]] = {"k": 4, "q": 6, "base_k": 3, "eta": 0.005}

    def _reset_model(self) -> None:
        pr = self.params
        if pr["step"] not in STEPS:
            raise ConfigurationError(
                f"{self.name}: step must be one of {STEPS}, got {pr['step']!r}"
            )
        if pr["heads"] not in ("single", "multi"):
            raise ConfigurationError(f"{self.name}: heads must be 'single' or 'multi'")
        for key in ("k", "stride", "q"):
            if int(pr[key]) < 1:
                raise ConfigurationError(f"{self.name}: {key} must be >= 1, got {pr[key]}")
        if float(pr["bound"]) <= 0 or float(pr["eta"]) < 0:
            raise ConfigurationError(f"{self.name}: bound must be > 0 and eta >= 0")
        if not 0.0 <= float(pr["smooth"]) < 1.0:
            raise ConfigurationError(f"{self.name}: smooth must be in [0, 1)")
        p, h = self.n_features, self.horizon
        self.base = RLS(horizon=h, n_features=p, mode="causal", seed=self.seed,
                        k=int(pr["base_k"]), stride=int(pr["base_stride"]),
                        forgetting=float(pr["base_forgetting"]))
        self.k, self.stride, self.q = int(pr["k"]), int(pr["stride"]), int(pr["q"])
        q = self.q
        self.m = 1 + self.k * p + p + (p if bool(pr["feed_error"]) else 0)
        m = self.m
        rng = np.random.default_rng(self.seed + len(self.events))
        scale = float(pr["init_scale"])
        self.w_a = rng.normal(0.0, 0.5 / math.sqrt(q), (q, q))
        self.w_b = rng.normal(0.0, scale / math.sqrt(m), (q, m))
        self.n_heads = h if pr["heads"] == "multi" else 1
        self.w_c = np.zeros((self.n_heads, p, q))
        self.hid = np.zeros(q)
        self.jac = np.zeros((q, q + m))
        length = h + 1
        self.rec_h = np.zeros((length, q))
        self.rec_j = np.zeros((length, q, q + m))
        self.rec_r = np.zeros((length, self.n_heads, p))
        self.rec_b = np.zeros((length, p))
        self.rec_y = np.zeros((length, p))
        self.rec_xi2 = np.ones(length)
        self.v_ab = np.zeros((q, q + m))
        self.v_c = np.zeros((self.n_heads, p, q))
        self._g_ab = np.zeros((q, q + m))
        self._g_c = np.zeros((self.n_heads, p, q))
        span = self.k * self.stride + 1
        self._u = np.zeros((span, p))  # smoothed samples, newest last
        self._n = 0
        self._step_code = STEPS.index(pr["step"])
        self._x = np.zeros(m)
        self._x[0] = 1.0
        if pr["prior_path"] is not None:
            for key, arr in self._load_prior().items():
                getattr(self, key)[...] = arr

    def _prior_meta(self) -> dict[str, Any]:
        meta = {key: self.params[key] for key in PRIOR_KEYS}
        meta.update(horizon=self.horizon, n_features=self.n_features)
        return json.loads(json.dumps(meta))

    def _load_prior(self) -> dict[str, np.ndarray]:
        """Read and check the prior file (at every reset: the file, not a copy in memory that a
        diverged state could have corrupted); return its arrays."""
        path = Path(self.params["prior_path"])
        try:
            with np.load(path) as f:
                meta = json.loads(str(f["meta"]))
                arrays = {key: np.array(f[key]) for key in PRIOR_ARRAYS}
        except (OSError, KeyError, ValueError) as exc:
            raise InputFileError(path, f"not a snap1-hybrid prior ({exc})") from exc
        mine = self._prior_meta()
        diff = {k: (meta["settings"].get(k), v) for k, v in mine.items()
                if meta["settings"].get(k) != v}
        if diff:
            raise ConfigurationError(
                f"{path}: prior trained with other settings (file, asked): {diff}"
            )
        for key, arr in arrays.items():
            if arr.shape != getattr(self, key).shape or not np.isfinite(arr).all():
                raise InputFileError(
                    path, f"array {key} has shape {arr.shape} or non-finite values"
                )
        return arrays

    def _features(self, y: np.ndarray, base: np.ndarray) -> np.ndarray:
        a = float(self.params["smooth"])
        u = self._u
        if self._n == 0:
            u[:] = y
        else:
            new = u[-1] + (1.0 - a) * (y - u[-1])
            u[:-1] = u[1:]
            u[-1] = new
        self._n += 1
        p, k, s = self.n_features, self.k, self.stride
        x = self._x
        lags = u[-1 - s * np.arange(k, 0, -1)]  # (k, p), oldest first
        x[1: 1 + k * p] = (lags - u[-1]).ravel()
        x[1 + k * p: 1 + k * p + p] = base - y
        if bool(self.params["feed_error"]):
            t0 = self.t - self.horizon
            x[1 + k * p + p:] = y - self.rec_b[t0 % (self.horizon + 1)] if t0 >= 0 else 0.0
        return x

    def _predict_and_learn(self, y: np.ndarray, lookahead: np.ndarray | None) -> np.ndarray:
        base = self.base.step(y)
        x = self._features(y, base)
        out = np.empty(self.n_features)
        from motionpredict.forecasters.hybrid_jit import hybrid_step  # lazy: numba

        hybrid_step(
            self.t, y, base, x, self.w_a, self.w_b, self.w_c, self.hid, self.jac,
            self.rec_h, self.rec_j, self.rec_r, self.rec_b, self.rec_y, self.rec_xi2,
            self.v_ab, self.v_c, self.horizon, self.n_heads > 1, float(self.params["bound"]),
            float(self.params["eta"]), self._step_code, float(self.params["aux_weight"]),
            self._g_ab, self._g_c, out,
        )  # fmt: skip
        return out

    def correction(self) -> np.ndarray:
        """The ``(p,)`` bounded correction ``c_t`` added to the base at the last step."""
        r = self.rec_r[self.t % (self.horizon + 1), self.n_heads - 1]
        return float(self.params["bound"]) * np.tanh(r / float(self.params["bound"]))

    def diverged(self) -> str | None:
        if self.base.diverged() is not None or self.base.events:
            return "RLS base became non-finite"
        for a in (self.w_a, self.w_b, self.w_c, self.hid, self.jac, self.v_ab, self.v_c,
                  self.rec_r, self.rec_j, self._u):
            if not np.isfinite(a).all():
                return "hybrid state became non-finite"
        if max(np.abs(self.w_a).max(), np.abs(self.w_b).max(), np.abs(self.w_c).max()) > 1e4:
            return "hybrid weights exploded"
        return None


def train_prior(
    series: Sequence[np.ndarray],
    path: str | Path,
    *,
    horizon: int,
    epochs: int = 2,
    eta: float = 3e-4,
    seed: int = 0,
    **params: Any,
) -> dict[str, Any]:
    """Learn a population prior of :class:`HybridSnAp1` on other patients' series.

    Parameters
    ----------
    series
        Standardised ``(T_i, p)`` series (each with its own training-window statistics), none of
        them the patient to be forecast.
    path
        Output ``.npz`` (written atomically).
    horizon
        Forecast horizon ``h`` in samples (the prior is for this horizon only).
    epochs
        Passes over all series.
    eta
        Learning rate while training the prior.
    seed
        Seed of the initial draw.
    **params
        The hybrid's other hyper-parameters (they must match those of the forecaster that loads
        the file; ``prior_path`` and ``eta`` excluded).

    Returns
    -------
    dict
        What the file records: ``settings``, ``n_series``, ``n_samples``, ``epochs``, ``eta``.
    """
    from motionpredict.io.atomic import atomic_path

    if not series:
        raise ConfigurationError("train_prior: at least one series is needed")
    if int(epochs) < 1:
        raise ConfigurationError(f"train_prior: epochs must be >= 1, got {epochs}")
    params = {k: v for k, v in params.items() if k not in ("prior_path", "eta")}
    p = int(np.asarray(series[0]).shape[1])
    weights: dict[str, np.ndarray] | None = None
    last: HybridSnAp1 | None = None
    for _ in range(int(epochs)):
        for z in series:
            f = HybridSnAp1(horizon=horizon, n_features=p, seed=seed, eta=eta, **params)
            if weights is not None:
                for key, arr in weights.items():
                    getattr(f, key)[...] = arr
            run_online(f, np.asarray(z, dtype=np.float64))
            if f.events:  # a reset lost what was learned on this series: keep the previous
                continue
            weights = {key: getattr(f, key).copy() for key in PRIOR_ARRAYS}
            last = f
    if weights is None or last is None:
        raise ConfigurationError("train_prior: the hybrid diverged on every series")
    meta = {"settings": last._prior_meta(), "n_series": len(series),
            "n_samples": int(sum(len(z) for z in series)), "epochs": int(epochs), "eta": eta}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), w_a=weights["w_a"],
                     w_b=weights["w_b"], w_c=weights["w_c"], v_ab=weights["v_ab"],
                     v_c=weights["v_c"])
    return meta
