"""A bank of online RNN experts stepped as one batch, for the aggregator.

The aggregator (:mod:`motionpredict.forecasters.aggregator`) combines many forecasters by their
recent causal losses. A grid of RNN settings (learning rates x random initialisations) is a set of
independent RNNs of one shape, so instead of B separate forecasters the bank keeps one batched
state (:mod:`motionpredict.kernels.batched_rnn_state`) and advances all of them with one batched
step per sample: the Triton kernels on a CUDA GPU, the PyTorch twin elsewhere
(:mod:`motionpredict.kernels.backend`). Expert ``j`` is the same RNN as the single forecaster with
the same settings and seed (float64: equal to rounding, tested), so putting a grid into the bank
or listing its points as separate members gives the same aggregate.

Shapes legend: B experts (``len(etas) * seeds``), P features, Q hidden, K history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from motionpredict.errors import ConfigurationError
from motionpredict.kernels.backend import BACKENDS, BackendChoice, resolve_backend
from motionpredict.kernels.batched_rnn_state import (
    ESTIMATORS,
    BatchedRNNConfig,
    BatchedRNNState,
    TensorOptions,
    new_state,
)

_ALIASES = {"rnn-fixed": "fixed", "snap-1": "snap1"}
_DTYPES = {"float64": torch.float64, "float32": torch.float32}
_KEYS = {"estimator", "k", "q", "etas", "seeds", "clip", "backend", "device", "dtype"}


@dataclass(frozen=True)
class RNNBankSpec:
    """What a bank holds: one RNN shape, several learning rates, several seeds each.

    Attributes
    ----------
    estimator
        ``"snap1"``, ``"uoro"``, ``"dni"``, ``"rtrl"`` or ``"fixed"`` (registry names such as
        ``"rnn-fixed"`` accepted).
    k
        History length ``K`` (samples).
    q
        Hidden units ``Q``.
    etas
        Learning rates; each runs with ``seeds`` random initialisations.
    seeds
        Initialisations per learning rate.
    clip
        Gradient-norm threshold (per matrix).
    backend
        ``"torch"``, ``"triton"`` or ``"auto"``.
    device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ...
    dtype
        ``"float64"`` (equal to the single forecasters to rounding; UORO then draws its signs
        from each RNN's own generator, host side) or ``"float32"`` (what a GPU runs fast; UORO's
        signs from a counter hash on the device).
    """

    estimator: str
    k: int
    q: int
    etas: tuple[float, ...]
    seeds: int = 1
    clip: float = 100.0
    backend: str = "auto"
    device: str = "auto"
    dtype: str = "float64"

    @property
    def n_experts(self) -> int:
        """``B = len(etas) * seeds``."""
        return len(self.etas) * self.seeds

    def labels(self) -> list[str]:
        """One label per expert, in bank order (learning rate major, then initialisation)."""
        return [
            f"{self.estimator}(k={self.k}, q={self.q}, eta={eta:g}, init {i})"
            for eta in self.etas
            for i in range(self.seeds)
        ]


def parse_bank_spec(spec: Mapping[str, Any] | Sequence[tuple[str, Any]]) -> RNNBankSpec:
    """Validate a bank specification given as a mapping or as ``((key, value), ...)`` pairs.

    Raises
    ------
    ConfigurationError
        Unknown keys, an unknown estimator, backend or dtype, or non-positive sizes / rates.
    """
    try:
        d = dict(spec)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"rnn bank: expected a table of settings, got {spec!r}"
        ) from None
    unknown = set(d) - _KEYS
    if unknown:
        raise ConfigurationError(
            f"rnn bank: unknown key(s) {sorted(unknown)}; allowed {sorted(_KEYS)}"
        )
    missing = {"estimator", "k", "q", "etas"} - set(d)
    if missing:
        raise ConfigurationError(f"rnn bank: missing key(s) {sorted(missing)}")
    est = _ALIASES.get(str(d["estimator"]), str(d["estimator"]))
    if est not in ESTIMATORS:
        raise ConfigurationError(f"rnn bank: estimator must be one of {ESTIMATORS}, got {est!r}")
    etas = d["etas"]
    etas = tuple(float(e) for e in (etas if isinstance(etas, list | tuple) else [etas]))
    out = RNNBankSpec(
        estimator=est,
        k=int(d["k"]),
        q=int(d["q"]),
        etas=etas,
        seeds=int(d.get("seeds", 1)),
        clip=float(d.get("clip", 100.0)),
        backend=str(d.get("backend", "auto")),
        device=str(d.get("device", "auto")),
        dtype=str(d.get("dtype", "float64")),
    )
    if out.k < 1 or out.q < 1 or out.seeds < 1 or not out.etas:
        raise ConfigurationError("rnn bank: k, q, seeds must be >= 1 and etas non-empty")
    if not all(np.isfinite(e) and e > 0 for e in out.etas) or not out.clip > 0:
        raise ConfigurationError("rnn bank: learning rates and clip must be > 0")
    if out.backend not in BACKENDS:
        raise ConfigurationError(f"rnn bank: backend must be one of {BACKENDS}")
    if out.dtype not in _DTYPES:
        raise ConfigurationError(f"rnn bank: dtype must be one of {sorted(_DTYPES)}")
    return out


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class RNNExpertBank:
    """B online RNN experts of one shape, advanced together by one batched step per sample.

    Parameters
    ----------
    spec
        What the bank holds (:class:`RNNBankSpec`).
    horizon
        ``h`` in samples.
    n_features
        ``P``.
    mode
        ``"causal"`` or ``"reference"`` (as the single forecasters).
    seeds
        ``(B,)`` seed of each expert, in bank order.
    """

    def __init__(
        self,
        spec: RNNBankSpec,
        *,
        horizon: int,
        n_features: int,
        mode: str,
        seeds: Sequence[int],
    ) -> None:
        if len(seeds) != spec.n_experts:
            raise ConfigurationError(
                f"rnn bank: {spec.n_experts} experts need as many seeds, got {len(seeds)}"
            )
        self.spec = spec
        device = _device(spec.device)
        self.config = BatchedRNNConfig(
            estimator=spec.estimator,  # type: ignore[arg-type]
            n_hidden=spec.q,
            history=spec.k,
            n_features=int(n_features),
            horizon=int(horizon),
            mode=mode,  # type: ignore[arg-type]
        )
        self.choice: BackendChoice = resolve_backend(
            spec.backend,  # type: ignore[arg-type]
            device=device,
            estimator=spec.estimator,
        )
        dtype = _DTYPES[spec.dtype]
        self.state: BatchedRNNState = new_state(
            self.config,
            seeds=np.asarray(seeds, dtype=np.int64),
            lr=np.repeat(np.asarray(spec.etas, dtype=np.float64), spec.seeds),
            clip=spec.clip,
            device=device,
            dtype=dtype,
            uoro_noise="numpy" if dtype == torch.float64 else "counter",
        )
        self._step = self.choice.step_function()
        self._resets_seen = np.zeros(spec.n_experts, dtype=np.int64)
        self.events: list[tuple[int, int]] = []

    @property
    def n_experts(self) -> int:
        """``B``."""
        return self.spec.n_experts

    def step(self, y: np.ndarray, lookahead: np.ndarray | None, t: int) -> np.ndarray:
        """Give every expert ``y_t``; return their ``(B, P)`` forecasts of ``y_{t+h}``.

        Parameters
        ----------
        y
            ``(P,)`` standardised sample.
        lookahead
            Reference mode: ``(P,)`` target ``y_{t+h}`` or ``None``; causal mode: ignored.
        t
            Time index, recorded with divergence resets.
        """
        st = self.state
        kw: TensorOptions = {"device": st.w.device, "dtype": st.w.dtype}
        b = self.n_experts
        yy = torch.as_tensor(np.asarray(y, dtype=np.float64), **kw).expand(b, -1)
        look = has = None
        if lookahead is not None and self.config.mode == "reference":
            look = torch.as_tensor(np.asarray(lookahead, dtype=np.float64), **kw).expand(b, -1)
            has = torch.ones(b, dtype=torch.bool, device=st.w.device)
        pred = self._step(st, yy.contiguous(), lookahead=look, has_lookahead=has)
        out = pred.to("cpu", torch.float64).numpy()
        resets = st.resets.cpu().numpy()
        for j in np.flatnonzero(resets != self._resets_seen):
            self.events.append((int(j), int(t)))
        self._resets_seen = resets.copy()
        return out
