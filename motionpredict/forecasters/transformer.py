"""Transformer-encoder forecasters (PyTorch, small): sequence-specific and population models.

The last ``k`` samples (``k`` tokens of ``p`` standardised features) are embedded linearly to
``d_model``, a learned positional embedding is added, ``layers`` encoder layers (``heads`` heads,
feed-forward width ``2 d_model``, dropout) process them and a linear head reads the last token::

    y_{t+h} = y_t + Head(Encoder(Embed(y_{t-k+1..t}) + Pos))_last

Training minimises the mean squared error on the pairs ``(window ending at t, y_{t+h})`` with Adam
(mini-batches, ``epochs`` passes). Both models are offline: no learning while forecasting, so the
mode does not change them.

* ``transformer``: sequence-specific, trained by :meth:`fit` on the training window.
* ``transformer-population``: trained beforehand on other sequences by
  :func:`train_population`, which writes the weights to a file; the forecaster loads them from
  ``weights_path`` (no download, nothing fitted on the sequence being forecast).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from motionpredict.errors import ConfigurationError, InputFileError
from motionpredict.forecasters.base import Forecaster, History, HyperParameter
from motionpredict.forecasters.linear import K_GRIDS, lagged_design
from motionpredict.forecasters.registry import register

#: Architecture settings stored with population weights and checked on load.
_ARCH_KEYS = ("k", "d_model", "layers", "heads", "dropout")


def _check_arch(params: dict[str, Any], what: str) -> None:
    if int(params["k"]) < 1 or int(params["layers"]) < 1 or int(params["epochs"]) < 1:
        raise ConfigurationError(f"{what}: k, layers and epochs must be >= 1")
    if int(params["d_model"]) % int(params["heads"]) != 0:
        raise ConfigurationError(
            f"{what}: d_model ({params['d_model']}) must be a multiple of heads ({params['heads']})"
        )
    if not 0.0 <= float(params["dropout"]) < 1.0 or float(params["lr"]) <= 0:
        raise ConfigurationError(f"{what}: dropout must be in [0, 1) and lr > 0")


_COMMON = (
    HyperParameter("k", 12, K_GRIDS["markers-10hz"], "history length (samples)"),
    HyperParameter("d_model", 16, (8, 16), "embedding width"),
    HyperParameter("layers", 1, (1, 2), "encoder layers"),
    HyperParameter("heads", 2, (2,), "attention heads"),
    HyperParameter("dropout", 0.5, (0.5,), "dropout probability while training"),
    HyperParameter("lr", 5e-4, (1e-4, 5e-4), "Adam learning rate"),
    HyperParameter("batch", 32, (32,), "mini-batch size"),
    HyperParameter("epochs", 50, (50,), "training passes over the pairs"),
)


class _TransformerBase(Forecaster):
    online = False
    net: Any  # transformer_net.EncoderNet once fitted or loaded

    def _predict_and_learn(self, y: np.ndarray, lookahead: np.ndarray | None) -> np.ndarray:
        if self.net is None:
            raise ConfigurationError(f"{self.name}: the model has no weights; fit or load it first")
        from motionpredict.forecasters.transformer_net import increment

        self._history.push(y)
        return y + increment(self.net, self._history.vector().reshape(1, -1, self.n_features))


@register
class SequenceTransformer(_TransformerBase):
    """Transformer encoder trained on the training window of the sequence it forecasts."""

    name = "transformer"
    hyperparameters = _COMMON
    test_params: ClassVar[dict[str, Any]] = {
        "k": 6,
        "d_model": 8,
        "epochs": 5,
        "dropout": 0.0,
        "lr": 1e-2,
    }
    published_grids: ClassVar[dict[str, dict[str, tuple[Any, ...]]]] = {
        name: {"k": grid} for name, grid in K_GRIDS.items()
    }

    def _reset_model(self) -> None:
        _check_arch(self.params, self.name)
        self._history = History(int(self.params["k"]), self.n_features)
        if not hasattr(self, "net"):
            self.net = None
            self.train_losses: list[float] = []

    def fit(self, series: np.ndarray) -> None:
        """Train on all pairs of the training window ``series`` (``(T_fit, p)``, standardised)."""
        from motionpredict.forecasters.transformer_net import build, train

        windows, targets = lagged_design(series, int(self.params["k"]), self.horizon)
        self.net = build(self.params, self.n_features, self.seed)
        self.train_losses = train(self.net, windows, targets, self.params, self.seed)


def train_population(
    series: list[np.ndarray],
    path: str | Path,
    *,
    horizon: int,
    seed: int = 0,
    **params: Any,
) -> list[float]:
    """Train a population transformer on other sequences and save it to ``path`` (atomically).

    Parameters
    ----------
    series
        Training sequences, each ``(T_i, p)`` and standardised with its own training statistics.
    path
        Destination file (PyTorch ``.pt``); replaced atomically.
    horizon
        ``h`` in samples.
    seed
        Seed of the initial weights and the mini-batch order.
    **params
        Hyper-parameters of :class:`PopulationTransformer` (defaults otherwise).

    Returns
    -------
    list of float
        Mean training loss per epoch.
    """
    if not series:
        raise ConfigurationError("train_population: no training sequence given")
    known = {hp.name: hp.default for hp in _COMMON}
    unknown = set(params) - set(known)
    if unknown:
        raise ConfigurationError(f"train_population: unknown hyper-parameter(s) {sorted(unknown)}")
    full = {**known, **params}
    _check_arch(full, "train_population")
    p = int(np.asarray(series[0]).shape[1])
    parts = [lagged_design(s, int(full["k"]), int(horizon)) for s in series]
    if any(w.shape[2] != p for w, _ in parts):
        raise ConfigurationError("train_population: all sequences need the same number of features")
    windows = np.concatenate([w for w, _ in parts])
    targets = np.concatenate([t for _, t in parts])
    from motionpredict.forecasters.transformer_net import build, save_weights, train

    net = build(full, p, seed)
    losses = train(net, windows, targets, full, seed)
    meta = {key: full[key] for key in _ARCH_KEYS}
    meta.update({"horizon": int(horizon), "n_features": p})
    from motionpredict.io.atomic import atomic_path  # lazy: keeps the I/O stack off this import

    with atomic_path(path) as tmp:
        save_weights(tmp, meta, net)
    return losses


@register
class PopulationTransformer(_TransformerBase):
    """Transformer encoder trained on other sequences, loaded from ``weights_path``."""

    name = "transformer-population"
    hyperparameters = (
        *_COMMON,
        HyperParameter("weights_path", None, (None,), "file written by train_population"),
    )
    test_params: ClassVar[dict[str, Any]] = {
        "k": 6,
        "d_model": 8,
        "epochs": 5,
        "dropout": 0.0,
        "lr": 1e-2,
    }

    @classmethod
    def contract_setup(
        cls, tmp_path: Path, series: list[np.ndarray], horizon: int, seed: int
    ) -> dict[str, Any]:
        """Train tiny population weights for the contract tests; return the extra parameters."""
        path = Path(tmp_path) / f"population-h{horizon}.pt"
        train_population(series, path, horizon=horizon, seed=seed, **cls.test_params)
        return {"weights_path": str(path)}

    def _reset_model(self) -> None:
        _check_arch(self.params, self.name)
        self._history = History(int(self.params["k"]), self.n_features)
        if getattr(self, "net", None) is not None:
            return
        path = self.params["weights_path"]
        if path is None:
            raise ConfigurationError(
                f"{self.name}: weights_path is required (train it with train_population)"
            )
        from motionpredict.forecasters.transformer_net import build, load_weights

        path = Path(path)
        try:
            blob = load_weights(path)
        except FileNotFoundError:
            raise InputFileError(path, "population weights file not found") from None
        except Exception as exc:  # torch raises several types for a corrupt file
            raise InputFileError(path, f"not a population weights file ({exc})") from None
        meta = blob.get("meta", {}) if isinstance(blob, dict) else {}
        expected = {key: self.params[key] for key in _ARCH_KEYS}
        expected.update({"horizon": self.horizon, "n_features": self.n_features})
        mismatch = {
            key: (meta.get(key), val) for key, val in expected.items() if meta.get(key) != val
        }
        if mismatch:
            raise InputFileError(
                path, f"weights were trained with other settings (file, asked): {mismatch}"
            )
        self.net = build(self.params, self.n_features, self.seed)
        self.net.load_state_dict(blob["state_dict"])
        self.net.eval()

    def fit(self, series: np.ndarray) -> None:
        """Population weights are not refitted on the sequence being forecast (no-op)."""
