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
  ``weights_path`` (no download, nothing fitted on the sequence being forecast). The file
  records the architecture, the horizon in samples, the number of features, the sampling period
  ``frame_period_s`` (s) and the standardisation convention; the forecaster refuses a file whose
  settings differ from its own, including a file trained at another sampling period when both
  periods are known (files written before the period was recorded still load). The command
  ``motionpredict train-population`` trains such a file from marker sequences.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from motionpredict.errors import ConfigurationError, InputFileError
from motionpredict.forecasters.base import Forecaster, History, HyperParameter
from motionpredict.forecasters.linear import K_GRIDS, lagged_design
from motionpredict.forecasters.registry import register

#: Architecture settings stored with population weights and checked on load.
_ARCH_KEYS = ("k", "d_model", "layers", "heads", "dropout")
#: How every series given to :func:`train_population` is standardised (recorded in the file):
#: each feature minus its mean, divided by its standard deviation, both over the training
#: window of that sequence alone (:class:`~motionpredict.forecasters.base.Standardizer`).
STANDARDISATION = "per-sequence z-score, training-window statistics"
#: Relative tolerance when the sampling period of a weights file is compared with the series'.
PERIOD_RTOL = 1e-6


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
    _history: History  # the last k samples, set by _reset_model

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
    frame_period_s: float | None = None,
    info: dict[str, Any] | None = None,
    progress: Callable[[int, float], None] | None = None,
    **params: Any,
) -> list[float]:
    """Train a population transformer on other sequences and save it to ``path`` (atomically).

    Parameters
    ----------
    series
        Training sequences, each ``(T_i, p)`` and standardised with its own training statistics
        (:data:`STANDARDISATION`, recorded in the file). Every pair ``(window ending at t,
        y_{t+h})`` with ``t + h < T_i`` is used.
    path
        Destination file (PyTorch ``.pt``); replaced atomically.
    horizon
        ``h`` in samples.
    seed
        Seed of the initial weights and the mini-batch order.
    frame_period_s
        Sampling period of the series in s, recorded so that the weights are refused for series
        sampled at another period; ``None`` when unknown (not recommended).
    info
        Extra JSON-like provenance (sequence names, windows...) stored under ``meta["training"]``
        (str, int, float, bool, None, lists and dicts of these only).
    progress
        ``progress(epoch, loss)`` called after every epoch (e.g. to move a progress bar).
    **params
        Hyper-parameters of :class:`PopulationTransformer` (defaults otherwise).

    Returns
    -------
    list of float
        Mean training loss per epoch (mean squared error of the standardised increment
        ``y_{t+h} - y_t``).
    """
    if not series:
        raise ConfigurationError("train_population: no training sequence given")
    full = population_params(**params)
    period = _check_period(frame_period_s, "train_population")
    training = None
    if info is not None:
        try:  # plain JSON types only: the file is read back with torch.load(weights_only=True)
            training = json.loads(json.dumps(info))
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"train_population: info must be JSON-like ({exc})") from None
    p = int(np.asarray(series[0]).shape[1])
    parts = [lagged_design(s, int(full["k"]), int(horizon)) for s in series]
    if any(w.shape[2] != p for w, _ in parts):
        raise ConfigurationError("train_population: all sequences need the same number of features")
    windows = np.concatenate([w for w, _ in parts])
    targets = np.concatenate([t for _, t in parts])
    from motionpredict.forecasters.transformer_net import build, save_weights, train

    net = build(full, p, seed)
    losses = train(net, windows, targets, full, seed, progress=progress)
    meta: dict[str, Any] = {key: full[key] for key in _ARCH_KEYS}
    meta.update({
        "horizon": int(horizon),
        "n_features": p,
        "frame_period_s": period,
        "standardisation": STANDARDISATION,
        "n_pairs": len(windows),
        "epochs": int(full["epochs"]),
        "final_loss": float(losses[-1]),
        "seed": int(seed),
    })
    if training is not None:
        meta["training"] = training
    from motionpredict.io.atomic import atomic_path  # lazy: keeps the I/O stack off this import

    with atomic_path(path) as tmp:
        save_weights(tmp, meta, net)
    return losses


def population_params(**params: Any) -> dict[str, Any]:
    """Complete population hyper-parameters with their defaults and check them.

    Parameters
    ----------
    **params
        Some of ``k``, ``d_model``, ``layers``, ``heads``, ``dropout``, ``lr``, ``batch``,
        ``epochs``.

    Returns
    -------
    dict
        Every one of them.

    Raises
    ------
    ConfigurationError
        Unknown names or invalid values (``d_model`` not a multiple of ``heads``...).
    """
    known = {hp.name: hp.default for hp in _COMMON}
    unknown = set(params) - set(known)
    if unknown:
        raise ConfigurationError(f"train_population: unknown hyper-parameter(s) {sorted(unknown)}")
    full = {**known, **params}
    _check_arch(full, "train_population")
    if int(full["batch"]) < 1:
        raise ConfigurationError("train_population: batch must be >= 1")
    return full


def _check_period(value: Any, what: str) -> float | None:
    """Return a sampling period in s as float (``None`` stays ``None``); refuse non-positive."""
    if value is None:
        return None
    try:
        period = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{what}: frame_period_s must be a time in s, got {value!r}"
                                 ) from None
    if not (math.isfinite(period) and period > 0):
        raise ConfigurationError(f"{what}: frame_period_s must be a positive time in s, "
                                 f"got {value!r}")
    return period


def load_population(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read and check a file written by :func:`train_population`.

    Parameters
    ----------
    path
        The ``.pt`` weights file.

    Returns
    -------
    meta, state_dict
        The recorded settings (architecture, ``horizon`` in samples, ``n_features``,
        ``frame_period_s`` in s or ``None`` for files written before it was recorded,
        ``standardisation``, training summary) and the network's tensors.

    Raises
    ------
    InputFileError
        Missing, unreadable or malformed file (the message names it and the problem).
    """
    from motionpredict.forecasters.transformer_net import load_weights

    path = Path(path)
    try:
        blob = load_weights(path)
    except FileNotFoundError:
        raise InputFileError(path, "population weights file not found") from None
    except Exception as exc:  # torch raises several types for a corrupt file
        raise InputFileError(path, f"not a population weights file ({exc})") from None
    if (not isinstance(blob, dict) or not isinstance(blob.get("meta"), dict)
            or not isinstance(blob.get("state_dict"), dict)):
        raise InputFileError(path, "not a population weights file (no 'meta' and 'state_dict' "
                                   "entries; write it with train_population or "
                                   "motionpredict train-population)")
    meta = blob["meta"]
    missing = [key for key in (*_ARCH_KEYS, "horizon", "n_features") if key not in meta]
    if missing:
        raise InputFileError(path, f"population weights file lacks the settings {missing}")
    period = meta.get("frame_period_s")
    if period is not None and not (
        isinstance(period, (int, float)) and math.isfinite(period) and period > 0
    ):
        raise InputFileError(path, f"invalid frame_period_s {period!r} recorded (must be a "
                                   "positive time in s)")
    conv = meta.get("standardisation")
    if conv is not None and conv != STANDARDISATION:
        raise InputFileError(path, f"weights expect series standardised as {conv!r}; this "
                                   f"version standardises as {STANDARDISATION!r}")
    return meta, blob["state_dict"]


@register
class PopulationTransformer(_TransformerBase):
    """Transformer encoder trained on other sequences, loaded from ``weights_path``."""

    name = "transformer-population"
    hyperparameters = (
        *_COMMON,
        HyperParameter("weights_path", None, (None,), "file written by train_population"),
        HyperParameter("frame_period_s", None, (None,),
                       "sampling period of the series (s); a file trained at another period is "
                       "refused (None: not checked)"),
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
        from motionpredict.forecasters.transformer_net import build

        path = Path(path)
        asked_period = _check_period(self.params["frame_period_s"], self.name)
        meta, state = load_population(path)
        # the period first: at another rate, every setting in samples means other times
        file_period = meta.get("frame_period_s")
        if (file_period is not None and asked_period is not None
                and not math.isclose(file_period, asked_period, rel_tol=PERIOD_RTOL)):
            raise InputFileError(
                path,
                f"weights were trained on series sampled every {file_period:g} s "
                f"({1 / file_period:.4g} Hz), the forecaster is given frame_period_s = "
                f"{asked_period:g} s ({1 / asked_period:.4g} Hz): the horizon and history would "
                "mean other times; "
                "train population weights at this sampling period",
            )
        expected = {key: self.params[key] for key in _ARCH_KEYS}
        expected.update({"horizon": self.horizon, "n_features": self.n_features})
        mismatch = {
            key: (meta.get(key), val) for key, val in expected.items() if meta.get(key) != val
        }
        if mismatch:
            raise InputFileError(
                path, f"weights were trained with other settings (file, asked): {mismatch}"
            )
        net = build(self.params, self.n_features, self.seed)
        try:
            net.load_state_dict(state)
        except (RuntimeError, KeyError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise InputFileError(path, f"weights do not fit the recorded architecture ({first})"
                                 ) from None
        net.eval()
        self.net = net
        self.file_meta = meta

    def fit(self, series: np.ndarray) -> None:
        """Population weights are not refitted on the sequence being forecast (no-op)."""
