"""Batched online-learning kernels (Triton) and their plain-PyTorch twins; imported as
``motionpredict.kernels``.

B independent vanilla tanh RNNs (each with its own weights, learning rate, clipping threshold and
random state) step side by side: forward + online gradient (RTRL, UORO, SnAp-1, DNI, or fixed
recurrent weights) + SGD update, in causal or reference mode. Shapes legend: B batch, Q hidden,
M inputs (1 + K*P), P outputs, K history, S queue slots, N = Q + M.

The Triton module is imported only on demand (``BackendChoice.step_function``), so this package
works without Triton.
"""

from motionpredict.kernels.backend import (
    BACKENDS,
    TRITON_ESTIMATORS,
    Backend,
    BackendChoice,
    kernel_estimators,
    resolve_backend,
    triton_available,
)
from motionpredict.kernels.batched_rnn_state import (
    ESTIMATORS,
    BatchedRNNConfig,
    BatchedRNNState,
    Estimator,
    max_batch,
    new_state,
    state_bytes,
)
from motionpredict.kernels.batched_rnn_torch import rnn_step_torch
from motionpredict.kernels.run_batched import BatchedRun, run_batched

__all__ = [
    "BACKENDS",
    "ESTIMATORS",
    "TRITON_ESTIMATORS",
    "Backend",
    "BackendChoice",
    "BatchedRNNConfig",
    "BatchedRNNState",
    "BatchedRun",
    "Estimator",
    "kernel_estimators",
    "max_batch",
    "new_state",
    "resolve_backend",
    "rnn_step_torch",
    "run_batched",
    "state_bytes",
    "triton_available",
]
