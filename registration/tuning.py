"""Grid-search tuning of the Lucas-Kanade parameters on training frames.

Every combination of the grid registers the training frames to the reference and is scored by
the mean registration RMSE (see :mod:`.quality`) of the reference against the frames pulled back
by their fields, over the whole grid or inside a ROI. Only training frames are used, so the
choice does not peek at validation or test frames.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.registration.lucas_kanade import LucasKanade
from motionpredict.registration.params import LKParams
from motionpredict.registration.quality import Roi, _roi_mask, rmse
from motionpredict.registration.warp import warp_backward

#: The grid of the reference implementation (sigma in px).
DEFAULT_GRID: dict[str, tuple[Any, ...]] = {
    "sigma_init": (0.1, 0.5, 1.0),
    "sigma_subsample": (0.1, 0.5, 1.0),
    "sigma_lk": (1.0, 2.0, 3.0, 4.0),
    "levels": (1, 2, 3),
    "iterations": (1, 2, 3),
}


@dataclass
class TuningResult:
    """Outcome of :func:`tune_lk`.

    Attributes
    ----------
    best
        Parameters with the lowest mean RMSE.
    best_rmse
        Their mean registration RMSE (intensity units).
    table
        ``(parameter dict, mean RMSE)`` of every combination, best first.
    frames
        0-based indices of the frames that were scored.
    """

    best: LKParams
    best_rmse: float
    table: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)


def score_params(frames: np.ndarray, reference: int, indices: Sequence[int], params: LKParams,
                 *, mask: np.ndarray | None = None, backend: str = "numpy") -> float:
    """Mean registration RMSE of ``frames[indices]`` against ``frames[reference]``.

    Parameters
    ----------
    frames
        ``(T, *shape)`` images.
    reference
        0-based reference index.
    indices
        Frames to score.
    params
        Lucas-Kanade settings.
    mask
        Optional boolean ROI of the grid.
    backend
        ``"numpy"`` or ``"torch"``.
    """
    lk = LucasKanade(frames[reference], params, backend=backend)
    values = [rmse(frames[reference], warp_backward(frames[t], lk.register(frames[t])), mask)
              for t in indices]
    return float(np.mean(values))


def tune_lk(frames: Any, *, reference: int = 0, train: Sequence[int] | slice | None = None,
            grid: Mapping[str, Sequence[Any]] | None = None, roi: Roi = None,
            base: LKParams | None = None, max_frames: int | None = None,
            backend: str = "numpy", progress: bool = False) -> TuningResult:
    """Choose Lucas-Kanade parameters by exhaustive grid search on training frames.

    Parameters
    ----------
    frames
        ``(T, *shape)`` images or an :class:`~motionpredict.sequences.ImageSequence`.
    reference
        0-based reference frame.
    train
        0-based training frame indices (or a slice); all frames by default. The reference is
        never scored against itself.
    grid
        Values per :class:`LKParams` field; :data:`DEFAULT_GRID` (324 combinations) by default.
    roi
        Score inside this region only (boolean mask or tuple of slices).
    base
        Values of the fields the grid does not vary.
    max_frames
        Score at most this many training frames, evenly spread (faster searches).
    backend
        ``"numpy"`` or ``"torch"``.
    progress
        Show a progress bar over combinations.
    """
    arr = np.asarray(getattr(frames, "frames", frames), dtype=np.float32)
    if arr.ndim not in (3, 4):
        raise ValidationError(f"frames must be (T, H, W) or (T, D, H, W), got {arr.shape}")
    n = arr.shape[0]
    if not 0 <= reference < n:
        raise ValidationError(f"reference frame index {reference} outside 0..{n - 1}")
    indices = list(range(n))[train] if isinstance(train, slice) else (
        list(range(n)) if train is None else [int(i) for i in train])
    if any(not 0 <= i < n for i in indices):
        raise ValidationError(f"training frame indices must lie in 0..{n - 1}")
    indices = [i for i in indices if i != reference]
    if not indices:
        raise ValidationError("no training frame other than the reference to tune on")
    if max_frames is not None and len(indices) > max_frames:
        pick = np.unique(np.linspace(0, len(indices) - 1, int(max_frames)).round().astype(int))
        indices = [indices[i] for i in pick]
    grid = dict(DEFAULT_GRID if grid is None else grid)
    base = base or LKParams()
    known = set(base.as_dict())
    if not grid or any(k not in known for k in grid) or any(len(v) == 0 for v in grid.values()):
        raise ConfigurationError(f"tuning grid must map LKParams fields {sorted(known)} to values")
    mask = _roi_mask(roi, arr.shape[1:])
    keys = list(grid)
    combos = list(itertools.product(*(grid[k] for k in keys)))
    table: list[tuple[dict[str, Any], float]] = []
    for combo in tqdm(combos, desc="tuning Lucas-Kanade", unit="set", disable=not progress):
        changes = {k: (int(v) if k in ("levels", "iterations") else v)
                   for k, v in zip(keys, combo, strict=True)}
        params = base.replace(**changes)
        table.append((changes, score_params(arr, reference, indices, params, mask=mask,
                                            backend=backend)))
    table.sort(key=lambda row: row[1])
    best = base.replace(**table[0][0])
    return TuningResult(best=best, best_rmse=table[0][1], table=table, frames=indices)
