"""State of B independent online-learning vanilla tanh RNNs stepping side by side.

Shapes legend (used by every module of :mod:`motionpredict.kernels`)::

    B  batch: independent RNNs (settings x seeds x series)
    Q  hidden units
    M  inputs = 1 + k * P  (bias first, then the last k samples, oldest first, time-major)
    P  outputs (features of the series)
    K  history length k (samples)
    S  queue slots: the horizon h in causal mode, 1 in reference mode
    N  Q + M, the columns of the recurrent matrix W = [W_a | W_b]

Model (per RNN; Pohl et al.)::

    z_t   = [h_{t-1}; x_t]                     (N,)
    h_t   = tanh(W z_t) = tanh(W_a h_{t-1} + W_b x_t)   (Q,)
    yhat_t = W_c h_t                           (P,)   forecast of y_{t+h}
    L     = 1/2 ||yhat - y_target||^2

The recurrent weights ``W = [W_a | W_b]`` are stored as one ``(B, Q, N)`` tensor; ``W_a`` is
``W[:, :, :Q]`` and ``W_b`` is ``W[:, :, Q:]``. Every forward quantity an update needs (``h``,
``z``, ``yhat`` and the estimator's influence) lives in a ring of ``S`` slots: the step at time
``t`` writes slot ``t mod S``; in causal mode the update at ``t`` first consumes that slot, which
holds the quantities kept from ``t - h``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypedDict, get_args

import numpy as np
import torch

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters.base import GuardSettings
from motionpredict.kernels.batched_guard import BatchedGuard, new_guard


class TensorOptions(TypedDict):
    """Keyword options ``device`` and ``dtype`` of ``torch.zeros`` / ``torch.as_tensor``."""

    device: torch.device | str
    dtype: torch.dtype

Estimator = Literal["rtrl", "uoro", "snap1", "dni", "fixed"]
ESTIMATORS: tuple[Estimator, ...] = get_args(Estimator)
KernelMode = Literal["causal", "reference"]
UOROVariant = Literal["correct", "as-coded"]

#: Standard deviation of the initial weights W_a, W_b, W_c (published setting).
INIT_STD = 0.02
#: UORO epsilon for the normalisers (published setting).
UORO_EPS = 1e-7
#: DNI credit-model learning rate (published setting; unclipped).
DNI_LR = 0.002


@dataclass(frozen=True)
class BatchedRNNConfig:
    """Sizes and method shared by all RNNs of one batch.

    Attributes
    ----------
    estimator
        Online gradient estimator: ``"rtrl"``, ``"uoro"``, ``"snap1"``, ``"dni"`` or ``"fixed"``.
    n_hidden
        ``Q``, hidden units.
    history
        ``K``, number of past samples in the input vector.
    n_features
        ``P``, features of the series (outputs).
    horizon
        ``h`` in samples (>= 1).
    mode
        ``"causal"`` (update when the target is acquired) or ``"reference"`` (lookahead update).
    uoro_variant
        UORO only: ``"correct"`` (default) or ``"as-coded"``, the reference implementation's
        pairing (forecast ``W_c h_{t-1}`` learned with the previous estimate, finite-difference
        tangent), to reproduce published numbers only (PyTorch twin only).
    """

    estimator: Estimator
    n_hidden: int
    history: int
    n_features: int
    horizon: int
    mode: KernelMode = "causal"
    uoro_variant: UOROVariant = "correct"

    def __post_init__(self) -> None:
        if self.estimator not in ESTIMATORS:
            raise ConfigurationError(
                f"estimator must be one of {ESTIMATORS}, got {self.estimator!r}"
            )
        if self.mode not in ("causal", "reference"):
            raise ConfigurationError(f"mode must be 'causal' or 'reference', got {self.mode!r}")
        if self.uoro_variant not in ("correct", "as-coded"):
            raise ConfigurationError(
                f"uoro_variant must be 'correct' or 'as-coded', got {self.uoro_variant!r}"
            )
        for name in ("n_hidden", "history", "n_features", "horizon"):
            if int(getattr(self, name)) < 1:
                raise ConfigurationError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def n_inputs(self) -> int:
        """``M = 1 + K * P``."""
        return 1 + self.history * self.n_features

    @property
    def n_cols(self) -> int:
        """``N = Q + M``, columns of ``W = [W_a | W_b]``."""
        return self.n_hidden + self.n_inputs

    @property
    def as_coded(self) -> bool:
        """True for UORO's "as-coded" variant."""
        return self.estimator == "uoro" and self.uoro_variant == "as-coded"

    @property
    def n_slots(self) -> int:
        """``S``: ``h`` in causal mode, 1 in reference mode."""
        return self.horizon if self.mode == "causal" else 1


def slot_elements(config: BatchedRNNConfig) -> int:
    """Values one RNN keeps per queue slot.

    Always ``h (Q)``, ``z (N)``, ``yhat (P)``; in causal mode also the ``W_c (P*Q)`` that issued
    the forecast; plus the estimator's record: SnAp-1 ``J (Q*N)``; UORO ``h~ (Q)`` and
    ``theta~ (Q*N)``; RTRL (causal) ``dyhat/dW = W_c J (P*Q*N)``; DNI (causal) ``W_a (Q*Q)``.
    """
    q, p, n = config.n_hidden, config.n_features, config.n_cols
    causal = config.mode == "causal"
    base = q + n + p + (p * q if causal else 0)
    extra = {
        "rtrl": p * q * n if causal else 0,
        "snap1": q * n,
        "uoro": (q + q * n) * (2 if config.as_coded else 1),
        "dni": q * q if causal else 0,
        "fixed": 0,
    }[config.estimator]
    return base + extra


def state_bytes(config: BatchedRNNConfig, batch: int, dtype: torch.dtype = torch.float32) -> int:
    """Bytes of device memory the state of ``batch`` RNNs occupies.

    Counts the weights (``Q*N + P*Q``), the ``S`` queue slots (:func:`slot_elements`), the
    history, the running RTRL influence ``J (Q*Q*N)`` and the DNI credit model. RTRL dominates:
    ``B * (Q^2 N + S P Q N)`` values; at float32, Q = 180, M = 181 (N = 361), P = 3 and h = 1 that
    is 47.8 MB per RNN, so an 80 GB GPU holds about 845 RTRL RNNs of that size (see
    :func:`max_batch`), while SnAp-1 needs 0.53 MB per RNN.
    """
    q, p, n, s = config.n_hidden, config.n_features, config.n_cols, config.n_slots
    per_rnn = q * n + p * q + s * slot_elements(config) + config.history * p + 2  # + lr, clip
    if config.estimator == "rtrl":
        per_rnn += q * q * n
    if config.estimator == "dni":
        per_rnn += (q + p + 1) * q + (q + p + 1)
    # plausibility guard: envelope (2 P), pending raw forecasts and fallbacks (2 S P), E_L, E_F
    per_rnn += 2 * p + 2 * s * p + 2
    itemsize = torch.tensor([], dtype=dtype).element_size()
    # seeds, steps, resets, guard counts (int64); pending flag, guard's valid slots, probation,
    # last-step flag (bool)
    return int(batch) * (per_rnn * itemsize + 5 * 8 + 1 + s + 2)


def max_batch(
    config: BatchedRNNConfig, memory_bytes: int, dtype: torch.dtype = torch.float32
) -> int:
    """Largest batch whose state fits in ``memory_bytes`` with the step's temporaries.

    The RTRL step allocates one new ``(B, Q, Q, N)`` influence (``W_a J``) and the SnAp-1/UORO
    gradient one ``(B, Q, N)`` tensor, so one running influence is counted twice.
    """
    itemsize = torch.tensor([], dtype=dtype).element_size()
    q, n = config.n_hidden, config.n_cols
    temp = {"rtrl": q * q * n, "snap1": q * n, "uoro": q * n, "dni": q * n, "fixed": 0}
    per = state_bytes(config, 1, dtype) + temp[config.estimator] * itemsize
    return int(memory_bytes // per)


def init_weights(
    seed: int, n_hidden: int, n_inputs: int, n_features: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.random.Generator]:
    """Initial ``W_a (Q, Q)``, ``W_b (Q, M)``, ``W_c (P, Q)`` drawn N(0, 0.02^2) from ``seed``.

    Drawn in that order from ``numpy.random.default_rng(seed)`` (as
    :func:`motionpredict.forecasters.rnn_core.init_weights`); the generator is returned so that
    the method's own draws (DNI's credit model, UORO's signs) continue on it.
    """
    rng = np.random.default_rng(int(seed))
    wa = rng.normal(0.0, INIT_STD, (n_hidden, n_hidden))
    wb = rng.normal(0.0, INIT_STD, (n_hidden, n_inputs))
    wc = rng.normal(0.0, INIT_STD, (n_features, n_hidden))
    return wa, wb, wc, rng


def init_credit_model(rng: np.random.Generator, n_hidden: int, n_features: int) -> np.ndarray:
    """DNI credit model ``A`` (``(Q + P + 1, Q)``, N(0, 1/Q)), drawn after the weights."""
    return rng.normal(0.0, 1.0 / np.sqrt(n_hidden), (n_hidden + n_features + 1, n_hidden))


@dataclass
class BatchedRNNState:
    """Mutable state of ``B`` RNNs; every tensor on one device with one floating dtype.

    Attributes
    ----------
    config
        Sizes and method.
    w
        ``(B, Q, N)`` recurrent weights ``[W_a | W_b]``.
    wc
        ``(B, P, Q)`` readout weights.
    lr
        ``(B,)`` learning rates eta.
    clip
        ``(B,)`` gradient-norm thresholds (per matrix W_a, W_b, W_c).
    seeds
        ``(B,)`` int64 seeds (weights, UORO signs, DNI credit model).
    history
        ``(B, K, P)`` last samples, oldest first.
    slot_h, slot_z, slot_yhat
        ``(S, B, Q)``, ``(S, B, N)``, ``(S, B, P)`` forward quantities per queue slot.
    slot_wc
        Causal mode: ``(S, B, P, Q)``, the ``W_c`` that issued each forecast (reference mode:
        empty, the current ``wc`` is used).
    slot_infl
        Estimator record per slot: SnAp-1 ``(S, B, Q, N)`` with ``J[i, j] = dh_i / dW_ij``;
        UORO ``(S, B, Q * (1 + N))`` packing ``h~ (Q)`` then ``theta~ (Q, N)`` row-major (the
        "as-coded" variant appends the previous estimate, ``(S, B, 2 Q (1 + N))``); RTRL in
        causal mode ``(S, B, P, Q * N)``, ``dyhat / dW = W_c J``; DNI in causal mode
        ``(S, B, Q, Q)``, the ``W_a`` of the forward step; otherwise empty.
    infl
        RTRL only: ``(B, Q, Q, N)`` running influence ``J[n, i, j] = dh_n / dW_ij``.
    credit
        DNI only: ``(B, Q + P + 1, Q)`` credit model ``A``.
    credit_in
        DNI only: ``(B, Q + P + 1)`` previous credit input ``x~ = [h, y, 1]``.
    steps
        ``(B,)`` int64 samples received since the last (re)initialisation.
    resets
        ``(B,)`` int64 number of divergence resets (the next reset draws from ``seed + resets``).
    t
        Global time index of the last step (-1 before the first).
    w_sq, credit_sq
        ``(B,)`` squared Frobenius norms of ``W`` and of DNI's ``A``, kept up to date by the
        Triton update kernels as they write the matrices (so the divergence check needs no other
        pass over them); ``None`` where nothing maintains them (the twin computes them).
    pending
        ``(B,)`` bool: rows found diverged whose re-initialisation waits for the next host
        synchronisation (``sync_every > 1`` in the step; they forecast ``y_t`` meanwhile).
    uoro_rngs
        UORO with ``uoro_noise="numpy"``: one generator per RNN (continuing after the weights).
    guard
        The plausibility guard's device state (:mod:`~motionpredict.kernels.batched_guard`);
        ``None``: no guard (forecasts of diverged rows are still replaced by ``y_t``).
    """

    config: BatchedRNNConfig
    w: torch.Tensor
    wc: torch.Tensor
    lr: torch.Tensor
    clip: torch.Tensor
    seeds: torch.Tensor
    history: torch.Tensor
    slot_h: torch.Tensor
    slot_z: torch.Tensor
    slot_yhat: torch.Tensor
    slot_wc: torch.Tensor
    slot_infl: torch.Tensor
    infl: torch.Tensor
    credit: torch.Tensor
    credit_in: torch.Tensor
    steps: torch.Tensor
    resets: torch.Tensor
    t: int = -1
    pending: torch.Tensor | None = None
    w_sq: torch.Tensor | None = None
    credit_sq: torch.Tensor | None = None
    uoro_rngs: list[np.random.Generator] | None = field(default=None, repr=False)
    guard: BatchedGuard | None = field(default=None, repr=False)

    @property
    def batch(self) -> int:
        """``B``."""
        return int(self.w.shape[0])


def _infl_shape(config: BatchedRNNConfig, batch: int) -> tuple[int, ...]:
    q, p, n, s = config.n_hidden, config.n_features, config.n_cols, config.n_slots
    causal = config.mode == "causal"
    if config.estimator == "rtrl" and causal:
        return (s, batch, p, q * n)
    if config.estimator == "snap1":
        return (s, batch, q, n)
    if config.estimator == "uoro":
        return (s, batch, q * (1 + n) * (2 if config.as_coded else 1))
    if config.estimator == "dni" and causal:
        return (s, batch, q, q)
    return (s, batch, 0)


def new_state(
    config: BatchedRNNConfig,
    *,
    seeds: np.ndarray | list[int],
    lr: np.ndarray | list[float] | float,
    clip: np.ndarray | list[float] | float = 100.0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    uoro_noise: Literal["numpy", "counter"] = "counter",
    guard: GuardSettings | bool = True,
) -> BatchedRNNState:
    """Allocate and initialise the state of ``B = len(seeds)`` RNNs.

    Parameters
    ----------
    config
        Sizes and method.
    seeds
        ``(B,)`` seeds; RNN ``b`` draws its weights with :func:`init_weights` (``seeds[b]``).
    lr
        ``(B,)`` or scalar learning rates eta (> 0).
    clip
        ``(B,)`` or scalar gradient-norm thresholds (> 0).
    device, dtype
        Where and in which precision the state lives (float64 for oracle checks).
    uoro_noise
        Source of UORO's random signs: ``"counter"`` (a hash of seed, step and unit computed on
        the device; the default, fast) or ``"numpy"`` (each RNN's own generator continuing after
        its weight draws, exactly as the single-RNN forecaster; host side, slow at large B).
    guard
        The plausibility guard (:mod:`~motionpredict.kernels.batched_guard`): ``True`` (default)
        with the forecasters' default settings, ``False`` for none (divergence fallbacks are
        still counted), or explicit settings. Its envelope and error-ratio tests run in causal
        mode only, as in the forecasters.

    Raises
    ------
    ConfigurationError
        On inconsistent lengths or non-positive learning rates / thresholds.
    """
    seeds_np = np.asarray(seeds, dtype=np.int64).reshape(-1)
    b = seeds_np.size
    if b < 1:
        raise ConfigurationError("at least one RNN (seed) is needed")
    try:
        lr_np = np.broadcast_to(np.asarray(lr, dtype=np.float64), (b,)).copy()
        clip_np = np.broadcast_to(np.asarray(clip, dtype=np.float64), (b,)).copy()
    except ValueError:
        raise ConfigurationError(
            f"lr and clip must be scalars or have one value per seed ({b})"
        ) from None
    if np.any(~np.isfinite(lr_np)) or np.any(lr_np <= 0):
        raise ConfigurationError(f"learning rates must be finite and > 0, got {lr_np}")
    if np.any(~np.isfinite(clip_np)) or np.any(clip_np <= 0):
        raise ConfigurationError(f"clipping thresholds must be finite and > 0, got {clip_np}")
    if uoro_noise not in ("numpy", "counter"):
        raise ConfigurationError(f"uoro_noise must be 'numpy' or 'counter', got {uoro_noise!r}")
    q, p, n, s = config.n_hidden, config.n_features, config.n_cols, config.n_slots
    causal = config.mode == "causal"
    dni = config.estimator == "dni"
    kw: TensorOptions = {"device": device, "dtype": dtype}
    state = BatchedRNNState(
        config=config,
        w=torch.zeros((b, q, n), **kw),
        wc=torch.zeros((b, p, q), **kw),
        lr=torch.as_tensor(lr_np, **kw),
        clip=torch.as_tensor(clip_np, **kw),
        seeds=torch.as_tensor(seeds_np, device=device),
        history=torch.zeros((b, config.history, p), **kw),
        slot_h=torch.zeros((s, b, q), **kw),
        slot_z=torch.zeros((s, b, n), **kw),
        slot_yhat=torch.zeros((s, b, p), **kw),
        slot_wc=torch.zeros((s, b, p, q) if causal else (s, 0, 0, 0), **kw),
        slot_infl=torch.zeros(_infl_shape(config, b), **kw),
        infl=torch.zeros((b, q, q, n) if config.estimator == "rtrl" else (b, 0), **kw),
        credit=torch.zeros((b, q + p + 1, q) if dni else (b, 0, 0), **kw),
        credit_in=torch.zeros((b, q + p + 1) if dni else (b, 0), **kw),
        steps=torch.zeros(b, dtype=torch.int64, device=device),
        resets=torch.zeros(b, dtype=torch.int64, device=device),
        pending=torch.zeros(b, dtype=torch.bool, device=device),
    )
    if config.estimator == "uoro" and uoro_noise == "numpy":
        state.uoro_rngs = [np.random.default_rng(0) for _ in range(b)]
    settings = guard if isinstance(guard, GuardSettings) else GuardSettings(enabled=bool(guard))
    state.guard = new_guard(
        settings, active=settings.enabled and causal, batch=b, slots=s, features=p,
        device=state.w.device, dtype=dtype, bounded=settings.enabled and not causal,
    )
    reinitialise(state, np.arange(b))
    return state


def reinitialise(state: BatchedRNNState, rows: np.ndarray) -> None:
    """(Re)initialise the RNNs ``rows`` as the forecaster's ``_reset_model`` does: weights (and
    DNI credit model, UORO generator) from ``seed + resets``, zero hidden state, influence and
    queue, ``steps = 0`` (the next sample refills the input history)."""
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    if rows.size == 0:
        return
    cfg = state.config
    q = cfg.n_hidden
    seeds = state.seeds.cpu().numpy()
    resets = state.resets.cpu().numpy()
    w = np.empty((rows.size, q, cfg.n_cols))
    wc = np.empty((rows.size, cfg.n_features, q))
    credit = []
    for i, r in enumerate(rows):
        wa, wb, wc_r, rng = init_weights(
            int(seeds[r] + resets[r]), q, cfg.n_inputs, cfg.n_features
        )
        w[i, :, :q] = wa
        w[i, :, q:] = wb
        wc[i] = wc_r
        if cfg.estimator == "dni":
            credit.append(init_credit_model(rng, q, cfg.n_features))
        if state.uoro_rngs is not None:
            state.uoro_rngs[r] = rng
    idx = torch.as_tensor(rows, device=state.w.device)
    kw: TensorOptions = {"device": state.w.device, "dtype": state.w.dtype}
    state.w[idx] = torch.as_tensor(w, **kw)
    state.wc[idx] = torch.as_tensor(wc, **kw)
    for buf in (state.slot_h, state.slot_z, state.slot_yhat, state.slot_wc, state.slot_infl):
        if buf.shape[1] > 0:
            buf[:, idx] = 0
    if cfg.estimator == "rtrl":
        state.infl[idx] = 0
    if cfg.estimator == "dni":
        state.credit[idx] = torch.as_tensor(np.stack(credit), **kw)
        state.credit_in[idx] = 0
        state.credit_in[idx, -1] = 1
    state.steps[idx] = 0
    if state.w_sq is not None:
        state.w_sq[idx] = (state.w[idx] * state.w[idx]).sum(dim=(1, 2))
    if state.credit_sq is not None:
        state.credit_sq[idx] = (state.credit[idx] * state.credit[idx]).sum(dim=(1, 2))
