"""Our online aggregator: many forecasters run side by side, combined by their recent causal losses.

Every member (a registered forecaster with fixed settings) receives each sample and issues its
forecast of ``y_{t+h}``. The aggregator forecasts, feature by feature, the exponentially weighted
average of the members::

    yhat_{t+h, j} = sum_i w_{ij}(t) yhat^i_{t+h, j}
    w_{ij}(t)     = exp(-eta (M_{ij}(t) / min_m M_{mj}(t) - 1)) / normaliser
    M_{ij}        = a L_{ij} + (1 - a) mean_j' L_{ij'}

where ``L_{ij}(t)`` is the discounted mean error (absolute for ``loss_power = 1``, squared for
``2``) of member ``i`` on feature ``j`` over the forecasts whose target has been acquired (causal
mode: the forecast issued at ``t - h`` is scored when ``y_t`` arrives)::

    L_{ij} <- gamma L_{ij} + (1 - gamma) |yhat^i_{t,j} - y_{t,j}|^loss_power

``a`` (``own_loss``) mixes the feature's own loss with the member's mean loss over all features
(``a = 1``: weights per feature; ``a = 0``: one weight per member shared by the features).
The absolute loss is less dominated by the few large errors of a sudden deep breath than the
squared loss, and sharing part of the loss across the correlated marker coordinates makes the
weights less noisy; both were chosen on the validation windows of the marker data.

``gamma`` sets the memory (``1 / (1 - gamma)`` samples) and so how fast the weights follow a change
of breathing pattern; ``eta`` is the learning rate of this Hedge-style rule on losses relative to
the best member (dimensionless; ``eta -> inf`` picks the current best member, ``eta = 0`` averages
uniformly). No validation window is needed: settings that a grid search would choose between are
all members. Until a member has been scored its weight follows the uniform prior.

The default members (see :func:`default_members`, 16 at short horizons, 19 from about 1 s) are
the last value, causal RLS predictors (multivariate over short and strided histories; univariate
with long strided histories, direct, and iterated one-step from about 1 s) and analog
nearest-neighbour forecasters
(:mod:`motionpredict.forecasters.analog`). Any registered method, the online RNNs included, can
be a member through ``members``.

A grid of online RNNs (learning rates x initialisations of one shape) can join as **RNN banks**
(``rnn_banks``): each bank is stepped as one batch by :mod:`motionpredict.kernels` (Triton
kernels on a CUDA GPU, the PyTorch twin elsewhere); its experts are members like any other and
equal, in float64, to the single forecasters with the same settings and seeds.

Reference mode passes the look-ahead target to the members and scores them on it at once
(published behaviour, labelled as such); causal mode is the default.
"""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

import numpy as np

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters.base import Forecaster, HyperParameter
from motionpredict.forecasters.registry import get, register

#: A member: registry name and its parameters, as a hashable tuple of (name, value) pairs.
MemberSpec = tuple[str, tuple[tuple[str, Any], ...]]


def default_members(lag_stride: int = 1, horizon: int | None = None) -> tuple[MemberSpec, ...]:
    """Return the default member set.

    Parameters
    ----------
    lag_stride
        Samples between two lags of the long-history members; choose it so that 20 lags span
        about one breathing cycle (3.33 Hz: 1, 10 Hz: 2, 30 Hz: 6). It also sets the forgetting
        factors: they are chosen for ``lag_stride = 2`` (10 Hz) and, for ``lag_stride > 2``,
        ``1 - lambda`` is scaled by ``2 / lag_stride`` so that the memory in seconds stays the
        same at finer sampling.
    horizon
        Forecast horizon in samples. The iterated one-step (recursive) members are included only
        when ``horizon >= 5 lag_stride`` (about 1 s and beyond), where they help; at shorter
        horizons they only dilute the weights (and iterating costs ``O(horizon)`` per step).
        ``None`` includes them.

    Returns
    -------
    tuple
        Member specifications ``(name, ((param, value), ...))``: 16 for short horizons, 19 with
        the recursive members.
    """
    s = int(lag_stride)
    if s < 1:
        raise ConfigurationError(f"aggregator: lag_stride must be >= 1, got {lag_stride}")
    scale = 2.0 / max(s, 2)

    def lam_of(lam: float) -> float:
        return float(round(1.0 - (1.0 - lam) * scale, 6))

    recursive = horizon is None or int(horizon) >= 5 * s
    members: list[MemberSpec] = [("no-prediction", ())]
    for k in (2, 4):
        for lam in (0.995, 0.999):
            members.append(("rls", (("k", k * s), ("stride", 1), ("forgetting", lam_of(lam)))))
    for k, stride in ((10, s), (20, s), (20, 2 * s)):
        univariate = (("k", k), ("stride", stride), ("per_feature", True))
        for lam in (0.995, 0.999):
            members.append(("rls", (*univariate, ("forgetting", lam_of(lam)))))
        if recursive:
            members.append(
                ("rls", (*univariate, ("forgetting", lam_of(0.999)), ("recursive", True)))
            )
    # multivariate RLS over strided lags (about 0.6 s and 1.2 s of history at 10 Hz)
    for k in (3, 6):
        members.append(("rls", (("k", k), ("stride", s), ("forgetting", lam_of(0.999)))))
    # analog (nearest-neighbour) members: strong at long horizons on quasi-periodic breathing
    for m, stride, neighbours, library in (
        (10, s, 10, 1000),
        (10, s, 5, 300),
        (20, max(1, s // 2), 20, 3000),
    ):
        members.append(
            (
                "analog",
                (("m", m), ("stride", stride), ("neighbours", neighbours), ("library", library)),
            )
        )
    return tuple(members)


@register
class Aggregator(Forecaster):
    """Exponentially weighted online aggregation of many forecasters by their causal losses."""

    name = "aggregator"
    online = True
    hyperparameters = (
        HyperParameter(
            "eta", 8.0, (1.0, 2.0, 4.0, 8.0, 16.0), "Hedge learning rate (relative loss)"
        ),
        HyperParameter("loss_power", 1, (1, 2), "1: absolute error, 2: squared error"),
        HyperParameter(
            "own_loss", 0.5, (0.0, 0.5, 1.0), "weight a of the feature's own loss vs the mean"
        ),
        HyperParameter(
            "discount", 0.99, (0.95, 0.98, 0.99, 0.995), "loss memory gamma (1/(1-gamma) samples)"
        ),
        HyperParameter("lag_stride", 1, (1, 2, 3, 6), "lag spacing of the long-history members"),
        HyperParameter(
            "members", None, (None,), "member specs ((name, ((param, value), ...)), ...) or None"
        ),
        HyperParameter(
            "rnn_banks",
            (),
            ((),),
            "RNN banks stepped as one batch each: tables with estimator, k, q, etas, seeds, "
            "clip, backend, device, dtype (see motionpredict.kernels.expert_bank)",
        ),
    )
    test_params: ClassVar[dict[str, Any]] = {
        "members": (
            ("no-prediction", ()),
            ("rls", (("k", 4),)),
            ("rls", (("k", 8), ("per_feature", True), ("recursive", True))),
            ("lms", (("k", 4), ("eta", 0.01))),
        )
    }

    def _reset_model(self) -> None:
        eta, gamma = float(self.params["eta"]), float(self.params["discount"])
        if eta < 0:
            raise ConfigurationError(f"aggregator: eta must be >= 0, got {eta}")
        if self.params["loss_power"] not in (1, 2):
            raise ConfigurationError(
                f"aggregator: loss_power must be 1 or 2, got {self.params['loss_power']}"
            )
        if not 0.0 <= float(self.params["own_loss"]) <= 1.0:
            raise ConfigurationError(
                f"aggregator: own_loss must be in [0, 1], got {self.params['own_loss']}"
            )
        if not 0.0 < gamma < 1.0:
            raise ConfigurationError(f"aggregator: discount must be in (0, 1), got {gamma}")
        specs = self.params["members"]
        if specs is None:
            specs = default_members(int(self.params["lag_stride"]), self.horizon)
        if len(specs) < 1:
            raise ConfigurationError("aggregator: at least one member is needed")
        seed = self.seed + len(self.events)
        self.members: list[Forecaster] = []
        for i, (name, params) in enumerate(specs):
            cls = get(name)
            if not cls.online and name != "no-prediction":
                raise ConfigurationError(
                    f"aggregator: member {name!r} is offline (needs fit); use online members"
                )
            self.members.append(
                cls(
                    horizon=self.horizon,
                    n_features=self.n_features,
                    mode=self.mode,
                    seed=seed + 1000 * i,
                    **dict(params),
                )
            )
        self.banks = self._make_banks(seed, len(self.members))
        n = len(self.members) + sum(bank.n_experts for bank in self.banks)
        self.losses = np.zeros((n, self.n_features))
        self._scored = 0
        self._pending: deque[np.ndarray] = deque()

    def _make_banks(self, seed: int, first: int) -> list[Any]:
        """Build the RNN banks; expert ``j`` overall gets the seed member ``first + j`` would."""
        specs = self.params["rnn_banks"] or ()
        if isinstance(specs, dict):
            specs = (specs,)
        if not specs:
            return []
        # lazy: the batched kernels (PyTorch) load only when a bank is asked for
        from motionpredict.kernels.expert_bank import RNNExpertBank, parse_bank_spec

        banks = []
        index = first
        for raw in specs:
            spec = parse_bank_spec(raw)
            seeds = [seed + 1000 * (index + j) for j in range(spec.n_experts)]
            banks.append(
                RNNExpertBank(
                    spec,
                    horizon=self.horizon,
                    n_features=self.n_features,
                    mode=self.mode,
                    seeds=seeds,
                )
            )
            index += spec.n_experts
        return banks

    def member_labels(self) -> list[str]:
        """One label per member, banks' experts last (the rows of :meth:`weights`)."""
        labels = [m.name for m in self.members]
        for bank in self.banks:
            labels.extend(bank.spec.labels())
        return labels

    def weights(self) -> np.ndarray:
        """Return the current ``(n_members, p)`` combination weights (columns sum to 1)."""
        n = self.losses.shape[0]
        if self._scored == 0:
            return np.full((n, self.n_features), 1.0 / n)
        a = float(self.params["own_loss"])
        mixed = a * self.losses + (1.0 - a) * self.losses.mean(axis=1, keepdims=True)
        best = np.maximum(mixed.min(axis=0, keepdims=True), 1e-12)
        logw = -float(self.params["eta"]) * (mixed / best - 1.0)
        w = np.exp(logw - logw.max(axis=0, keepdims=True))
        return w / w.sum(axis=0, keepdims=True)

    def _score(self, preds: np.ndarray, target: np.ndarray) -> None:
        gamma = float(self.params["discount"])
        err = np.abs(preds - target[None, :]) ** int(self.params["loss_power"])
        if self._scored == 0:
            self.losses = err
        else:
            self.losses = gamma * self.losses + (1.0 - gamma) * err
        self._scored += 1

    def _predict_and_learn(self, y: np.ndarray, lookahead: np.ndarray | None) -> np.ndarray:
        if len(self._pending) == self.horizon:
            self._score(self._pending.popleft(), y)
        preds = np.stack([m.step(y, lookahead=lookahead) for m in self.members])
        if self.banks:
            preds = np.concatenate(
                [preds, *(bank.step(y, lookahead, self.t) for bank in self.banks)], axis=0
            )
        combined = np.sum(self.weights() * preds, axis=0)
        if lookahead is not None:
            self._score(preds, lookahead)
        elif self.mode == "causal":
            self._pending.append(preds)
        return combined

    def diverged(self) -> str | None:
        if not np.isfinite(self.losses).all():
            return "aggregator losses became non-finite"
        return None

    def member_events(self) -> list[tuple[str, int, str]]:
        """Return ``(member name, step, reason)`` for every divergence reset of a member."""
        events = [(m.name, e.step, e.reason) for m in self.members for e in m.events]
        for bank in self.banks:
            labels = bank.spec.labels()
            events.extend((labels[j], t, "divergence reset") for j, t in bank.events)
        return events
