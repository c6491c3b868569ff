"""The PyTorch side of the transformer forecasters (imported only when one is fitted or used).

Kept apart from :mod:`motionpredict.forecasters.transformer` so that importing the forecasters
(every batch worker and CLI start does) does not import torch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run a block on one intra-op thread: for these tiny models, thread hand-offs cost far more
    than they save, and on a loaded machine spinning OpenMP workers slow training ~100x."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class EncoderNet(nn.Module):
    """Linear embedding, learned positions, transformer encoder, linear head on the last token."""

    def __init__(self, k: int, p: int, d_model: int, layers: int, heads: int, dropout: float):
        super().__init__()
        self.embed = nn.Linear(p, d_model)
        self.pos = nn.Parameter(torch.zeros(1, k, d_model))
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=2 * d_model, dropout=dropout, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, p)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """Map ``(B, k, p)`` windows to ``(B, p)`` increments ``y_{t+h} - y_t``."""
        z = self.encoder(self.embed(windows) + self.pos)
        return self.head(z[:, -1, :])


def build(params: dict[str, Any], p: int, seed: int) -> EncoderNet:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = EncoderNet(
            int(params["k"]),
            p,
            int(params["d_model"]),
            int(params["layers"]),
            int(params["heads"]),
            float(params["dropout"]),
        ).double()
    net.eval()
    return net


def train(
    net: EncoderNet,
    windows: np.ndarray,
    targets: np.ndarray,
    params: dict[str, Any],
    seed: int,
    progress: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train ``net`` in place on ``(n, k, p)`` windows, ``(n, p)`` targets; return epoch losses.

    ``progress(epoch, loss)`` (1-based epoch, mean training loss of that epoch) is called after
    every epoch when given.
    """
    x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float64))
    dy = torch.from_numpy(np.ascontiguousarray(targets - windows[:, -1, :], dtype=np.float64))
    batch = int(params["batch"])
    losses: list[float] = []
    with torch.random.fork_rng(devices=[]), one_thread():
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(net.parameters(), lr=float(params["lr"]))
        net.train()
        for _ in range(int(params["epochs"])):
            order = torch.randperm(len(x), generator=gen)
            total = 0.0
            for start in range(0, len(x), batch):
                idx = order[start : start + batch]
                opt.zero_grad()
                loss = torch.mean((net(x[idx]) - dy[idx]) ** 2)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            losses.append(total / len(x))
            if progress is not None:
                progress(len(losses), losses[-1])
        net.eval()
    return losses


def increment(net: EncoderNet, window: np.ndarray) -> np.ndarray:
    """Forecast increment ``y_{t+h} - y_t`` ``(p,)`` for one ``(1, k, p)`` window."""
    with torch.no_grad(), one_thread():
        return net(torch.from_numpy(np.ascontiguousarray(window, dtype=np.float64)))[0].numpy()


def save_weights(path: str | Path, meta: dict[str, Any], net: EncoderNet) -> None:
    """Write ``{"meta", "state_dict"}`` to ``path`` (the caller makes it atomic)."""
    torch.save({"meta": meta, "state_dict": net.state_dict()}, path)


def load_weights(path: str | Path) -> Any:
    """Read a file written by :func:`save_weights` (tensors only, no pickled code)."""
    return torch.load(path, map_location="cpu", weights_only=True)
