"""Typed choice of the implementation of the batched RNN step.

``"torch"``  the plain-PyTorch twin (:mod:`motionpredict.kernels.batched_rnn_torch`); any device,
             always available; the CPU path.
``"triton"`` the Triton kernels (:mod:`motionpredict.kernels.batched_rnn_triton`); needs Triton and
             a CUDA device, or ``TRITON_INTERPRET=1`` on the CPU (slow; tests only). Estimators
             without a kernel run on the twin and the choice says so.
``"auto"``   Triton on a CUDA device when Triton is installed and the estimator has a kernel,
             otherwise the twin.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import torch

from motionpredict.errors import ConfigurationError

Backend = Literal["torch", "triton", "auto"]
BACKENDS: tuple[Backend, ...] = get_args(Backend)

#: Estimators that have a Triton kernel (the others run on the PyTorch twin).
TRITON_ESTIMATORS: frozenset[str] = frozenset({"snap1", "uoro", "dni", "fixed"})

StepFn = Callable[..., torch.Tensor]


def triton_available() -> bool:
    """True when the ``triton`` package can be imported."""
    return importlib.util.find_spec("triton") is not None


def triton_interpreter() -> bool:
    """True when ``TRITON_INTERPRET=1`` (Triton kernels run on the CPU, interpreted)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def kernel_estimators() -> frozenset[str]:
    """Estimators with a Triton kernel."""
    return TRITON_ESTIMATORS


@dataclass(frozen=True)
class BackendChoice:
    """The implementation that will run, and why.

    Attributes
    ----------
    requested
        What the caller asked for.
    name
        ``"torch"`` or ``"triton"``: what runs.
    device
        The device of the state.
    reason
        One line for logs and reports (e.g. why Triton was not used).
    """

    requested: Backend
    name: Literal["torch", "triton"]
    device: str
    reason: str

    def step_function(self) -> StepFn:
        """Return the batched step (``rnn_step_torch`` or ``rnn_step_triton``)."""
        if self.name == "triton":
            from motionpredict.kernels.batched_rnn_triton import rnn_step_triton

            return rnn_step_triton
        from motionpredict.kernels.batched_rnn_torch import rnn_step_torch

        return rnn_step_torch


def resolve_backend(
    backend: Backend, *, device: str | torch.device, estimator: str
) -> BackendChoice:
    """Decide which implementation runs ``estimator`` on ``device``.

    Raises
    ------
    ConfigurationError
        Unknown backend, or ``"triton"`` where Triton cannot run (not installed, or a CPU device
        without ``TRITON_INTERPRET=1``).
    """
    if backend not in BACKENDS:
        raise ConfigurationError(f"backend must be one of {BACKENDS}, got {backend!r}")
    dev = torch.device(device)
    where = str(dev)
    if backend == "torch":
        return BackendChoice(backend, "torch", where, "PyTorch twin requested")
    runnable = triton_available() and (
        dev.type == "cuda" or (dev.type == "cpu" and triton_interpreter())
    )
    has_kernel = estimator in TRITON_ESTIMATORS
    if backend == "triton":
        if not runnable:
            raise ConfigurationError(
                f"backend 'triton' cannot run on {where}: it needs the triton package and a CUDA "
                "device (or TRITON_INTERPRET=1 on the CPU); use backend 'torch' or 'auto'"
            )
        if not has_kernel:
            return BackendChoice(
                backend, "torch", where, f"no Triton kernel for {estimator!r}: PyTorch twin"
            )
        return BackendChoice(backend, "triton", where, "Triton kernels")
    if dev.type == "cuda" and triton_available() and has_kernel:
        return BackendChoice(backend, "triton", where, "Triton kernels on CUDA")
    if dev.type != "cuda":
        why = f"device {where}: PyTorch twin"
    elif not triton_available():
        why = "triton not installed: PyTorch twin"
    else:
        why = f"no Triton kernel for {estimator!r}: PyTorch twin"
    return BackendChoice(backend, "torch", where, why)
