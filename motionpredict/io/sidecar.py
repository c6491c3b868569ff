"""Sidecar files and the rules that decide frame period and pixel spacing.

Two sidecars are understood:

``sequence.json`` (in the data folder, as in ``../shared/data``)
    ``frame_period_s`` (number or ``null``), ``pixel_spacing_mm`` (list in array-axis order, or
    ``null`` = "the files store none"), ``dataset`` (selects a dataset card whose
    ``sidecar_dataset`` lists it), ``sampling_hz`` (marker data), ``markers`` (marker names).
    The evaluation entries are typed too and read nowhere else: ``roi`` (1-based inclusive
    ``x`` = column, ``y`` = row, ``z`` = slice ranges; :meth:`Sidecar.roi_mask` and
    :func:`roi_mask` are the one 1-based -> 0-based converter), ``splits`` (the 1-based windows
    of :meth:`Sidecar.split_spec`, per marker rate where the rates differ), ``horizons_s`` /
    ``horizons_steps`` and ``reference_lk_parameters``.
``frame-rate.json`` (TrackRAD2025, next to an image file)
    A number (or ``{"frame_rate": number}``) in frames per second; the frame period is its inverse.

Precedence (see :class:`MetadataHints`): a value stored in the image headers wins; otherwise the
command-line option, then the sidecar, then the dataset card, then a spacing *convention* declared
by a card (reported as ``"convention"``). When nothing is known, :class:`MissingMetadataError`
names the option to pass. Nothing is ever assumed silently.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from motionpredict.cards import DatasetCard, card_for_sidecar_dataset, find_card
from motionpredict.errors import (
    ConfigurationError,
    InputFileError,
    MissingMetadataError,
    ValidationError,
)
from motionpredict.sequences import Source

__all__ = ["MetadataHints", "Sidecar", "rate_key", "read_sidecar", "roi_mask", "sidecar_of",
           "split_spec"]

SIDECAR_NAMES = ("sequence.json", "frame-rate.json")

#: Relative jitter of frame steps (max |step - median| / median) still called regular.
REGULAR_TOLERANCE = 0.2


@dataclass
class Sidecar:
    """What a sidecar file says.

    Attributes
    ----------
    path
        The JSON file.
    frame_period_s
        Frame period in s, or ``None``.
    spacing_mm
        Pixel spacing in mm, array-axis order, or ``None``.
    spacing_stated_absent
        ``True`` when the sidecar says explicitly that the files store no spacing.
    dataset
        Dataset name from the sidecar (selects a card), or ``None``.
    markers
        Marker names (external-marker data), or ``None``.
    raw
        The whole parsed document.
    """

    path: Path
    frame_period_s: float | None = None
    spacing_mm: tuple[float, ...] | None = None
    spacing_stated_absent: bool = False
    dataset: str | None = None
    markers: tuple[str, ...] | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def roi(self) -> dict[str, Any] | None:
        """The ``roi`` entry (1-based inclusive ranges), or ``None``."""
        roi = self.raw.get("roi")
        return roi if isinstance(roi, dict) else None

    @property
    def lk_parameters(self) -> dict[str, Any] | None:
        """The ``reference_lk_parameters`` entry, or ``None``."""
        lk = self.raw.get("reference_lk_parameters")
        return lk if isinstance(lk, dict) else None

    def roi_mask(self, shape: tuple[int, ...], *, strict: bool = False) -> np.ndarray | None:
        """Boolean ROI mask of a grid of ``shape`` (see :func:`roi_mask`); ``None`` without one
        (or, unless ``strict``, when it is malformed)."""
        if self.roi is None:
            if strict:
                raise ConfigurationError(f"{self.path}: no 'roi' entry")
            return None
        return roi_mask(self.roi, shape, strict=strict)

    def split_spec(self, sample_period_s: float | None = None
                   ) -> tuple[dict[str, Any], str] | None:
        """The 1-based split windows this sidecar states (see :func:`split_spec`)."""
        return split_spec(self.raw, sample_period_s)

    def horizons_s(self, period_s: float) -> list[float] | None:
        """Horizons in s: ``horizons_s``, or ``horizons_steps`` x ``period_s``; else ``None``."""
        if "horizons_s" in self.raw:
            return [float(h) for h in self.raw["horizons_s"]]
        if "horizons_steps" in self.raw:
            return [int(k) * period_s for k in self.raw["horizons_steps"]]
        return None


#: Sidecar ROI axis names in array-axis order: ``x`` = column, ``y`` = row, ``z`` = slice.
ROI_AXES: dict[int, tuple[str, ...]] = {2: ("y", "x"), 3: ("z", "y", "x")}


def roi_mask(roi: Mapping[str, Any], shape: tuple[int, ...], *, strict: bool = False
             ) -> np.ndarray | None:
    """The one 1-based -> 0-based ROI converter: a boolean mask from 1-based inclusive ranges.

    Parameters
    ----------
    roi
        ``{"x": [first, last], "y": [first, last]}`` (2D) plus ``"z"`` (3D): 1-based inclusive
        pixel (voxel) ranges, ``x`` = column, ``y`` = row, ``z`` = slice (the MATLAB convention
        of the reference data).
    shape
        ``(H, W)`` or ``(D, H, W)`` grid shape.
    strict
        ``False`` (evaluation, prediction): a malformed or empty ROI gives ``None`` (the whole
        image is scored). ``True`` (a 4DCT tumour ROI, which is required): it raises.

    Returns
    -------
    numpy.ndarray or None
        ``shape`` bool mask, rows ``y[0] - 1 .. y[1] - 1`` etc.; ``None`` (not ``strict``) when
        the ranges are missing, not integers or select nothing.

    Raises
    ------
    ConfigurationError
        ``strict`` and a range is missing or is not two integers.
    ValidationError
        ``strict`` and a range lies outside ``1..n`` or is reversed.
    """
    if not isinstance(roi, Mapping) or len(shape) not in ROI_AXES:
        if strict:
            raise ConfigurationError(f"ROI needs 2 or 3 ranges for a {len(shape)}D grid, got {roi}")
        return None
    axes = ROI_AXES[len(shape)]
    try:
        bounds = [(int(roi[a][0]), int(roi[a][1])) for a in axes]
        if strict and any(len(roi[a]) != 2 for a in axes):
            raise ValueError
    except (KeyError, TypeError, IndexError, ValueError):
        if strict:
            names = axes[::-1]
            raise ConfigurationError(f"ROI needs {', '.join(names[:-1])} and {names[-1]} ranges "
                                     f"[first, last], got {roi}") from None
        return None
    if strict:
        for (first, last), n in zip(bounds, shape, strict=True):
            if not 1 <= first <= last <= n:
                raise ValidationError(f"ROI bounds {first}..{last} outside 1..{n}")
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(slice(first - 1, last) for first, last in bounds)] = True
    return mask if mask.any() else None


def rate_key(sample_period_s: float) -> str:
    """Sidecar key of a marker sampling rate (``"10hz"``, ``"3.33hz"``, ``"30hz"``)."""
    hz = 1.0 / sample_period_s
    return f"{round(hz, 2):g}hz"


def split_spec(doc: Mapping[str, Any], sample_period_s: float | None = None
               ) -> tuple[dict[str, Any], str] | None:
    """The split windows a sidecar (or card) states, still 1-based, and where they came from.

    The one reader of ``splits``: cine sidecars give ``splits.online_methods`` (plus
    ``offline_methods_last_training_target``), marker sidecars one entry per sampling rate
    (:func:`rate_key`), others ``splits`` itself.

    Returns
    -------
    tuple or None
        ``({"train": [a, b], "cv": [c, d], "test": [e, f] | "test_from": e, ...}, source)``
        with ``source`` ``"sidecar"`` or ``"sidecar (<rate>)"``; ``None`` when none is stated.
    """
    sp = doc.get("splits")
    if not isinstance(sp, dict):
        return None
    if isinstance(sp.get("online_methods"), dict):
        d = dict(sp["online_methods"])
        if "offline_methods_last_training_target" in sp:
            d["offline_last_training_target"] = sp["offline_methods_last_training_target"]
        return d, "sidecar"
    if sample_period_s is not None and sample_period_s > 0:
        key = rate_key(sample_period_s)
        if isinstance(sp.get(key), dict):
            return dict(sp[key]), f"sidecar ({key})"
    if "train" in sp:
        return dict(sp), "sidecar"
    return None


def sidecar_of(extra: Mapping[str, Any] | None) -> Sidecar | None:
    """The sidecar a loaded sequence came with: ``provenance.extra["sidecar"]`` (its path, which
    the loader records) read by :func:`read_sidecar`; ``None`` when there is none or it is gone.

    This is what the pipelines and the viewer call instead of opening the JSON themselves.
    """
    path = extra.get("sidecar") if isinstance(extra, Mapping) else None
    if not isinstance(path, str) or not Path(path).is_file():
        return None
    return read_sidecar(path)


def _number(value: Any, key: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputFileError(path, f"'{key}' must be a number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise InputFileError(path, f"'{key}' must be positive and finite, got {value!r}")
    return value


def read_sidecar(folder_or_file: str | Path) -> Sidecar | None:
    """Return the sidecar next to a data folder or file, or ``None`` when there is none.

    Parameters
    ----------
    folder_or_file
        A data folder (searched for ``sequence.json`` / ``frame-rate.json``) or a data file (its
        folder is searched).

    Raises
    ------
    InputFileError
        The sidecar exists but is not valid JSON or holds invalid values.
    """
    p = Path(folder_or_file)
    folder = p if p.is_dir() else p.parent
    for name in SIDECAR_NAMES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputFileError(path, f"cannot read the sidecar as JSON ({exc})") from exc
        if name == "frame-rate.json":
            rate = doc
            if isinstance(doc, dict):
                keys = [k for k in ("frame_rate", "frame-rate", "frame_rate_hz", "fps") if k in doc]
                if not keys:
                    raise InputFileError(path, "expected a number of frames per second")
                rate = doc[keys[0]]
            hz = _number(rate, "frame rate (frames per second)", path)
            return Sidecar(path=path, frame_period_s=1.0 / hz, raw={"frame_rate_hz": hz})
        if not isinstance(doc, dict):
            raise InputFileError(path, "expected a JSON object")
        sc = Sidecar(path=path, raw=doc)
        if doc.get("frame_period_s") is not None:
            sc.frame_period_s = _number(doc["frame_period_s"], "frame_period_s", path)
        elif doc.get("sampling_hz") is not None:
            sc.frame_period_s = 1.0 / _number(doc["sampling_hz"], "sampling_hz", path)
        if "pixel_spacing_mm" in doc:
            sp = doc["pixel_spacing_mm"]
            if sp is None:
                sc.spacing_stated_absent = True
            else:
                if not isinstance(sp, list) or len(sp) not in (2, 3):
                    raise InputFileError(path, "'pixel_spacing_mm' must be a list of 2 or 3 mm")
                sc.spacing_mm = tuple(_number(s, "pixel_spacing_mm", path) for s in sp)
        if isinstance(doc.get("dataset"), str):
            sc.dataset = doc["dataset"]
        if isinstance(doc.get("markers"), list):
            sc.markers = tuple(str(m) for m in doc["markers"])
        return sc
    return None


@dataclass
class MetadataHints:
    """Everything besides the headers that may give frame period and spacing.

    Parameters
    ----------
    frame_period_s
        ``--frame-period`` in s, or ``None``.
    spacing_mm
        ``--spacing`` in mm: one value for every axis or one per axis (array-axis order).
    card
        The dataset card given with ``--dataset``, or ``None``.
    sidecar
        The sidecar found next to the data, or ``None``.
    strict
        When ``True`` (loading for processing) an unknown quantity raises
        :class:`MissingMetadataError`; when ``False`` (``motionpredict info``) a placeholder of 1
        is used and the source is left ``None`` so that the report says "unknown".
    """

    frame_period_s: float | None = None
    spacing_mm: tuple[float, ...] | None = None
    card: DatasetCard | None = None
    sidecar: Sidecar | None = None
    strict: bool = True
    warnings: list[str] = field(default_factory=list)
    card_origin: str | None = None

    @classmethod
    def build(
        cls,
        path: Path,
        *,
        dataset: str | None,
        frame_period_s: float | None,
        spacing_mm: float | tuple[float, ...] | list[float] | None,
        strict: bool = True,
    ) -> MetadataHints:
        """Collect the hints for data at ``path`` (reads its sidecar, finds the card)."""
        from motionpredict.errors import ConfigurationError

        if frame_period_s is not None and not (
            math.isfinite(float(frame_period_s)) and float(frame_period_s) > 0
        ):
            raise ConfigurationError(
                f"--frame-period must be a positive number of s, got {frame_period_s}"
            )
        sp: tuple[float, ...] | None = None
        if spacing_mm is not None:
            sp = tuple(float(s) for s in np.atleast_1d(np.asarray(spacing_mm, dtype=float)))
            if not sp or not all(math.isfinite(s) and s > 0 for s in sp):
                raise ConfigurationError(f"--spacing must be positive mm values, got {spacing_mm}")
        sidecar = read_sidecar(path)
        card = find_card(dataset) if dataset else None
        origin = "--dataset" if card else None
        if card is None and sidecar is not None and sidecar.dataset:
            card = card_for_sidecar_dataset(sidecar.dataset)
            origin = f"{sidecar.path.name} dataset={sidecar.dataset!r}" if card else None
        return cls(
            frame_period_s=None if frame_period_s is None else float(frame_period_s),
            spacing_mm=sp,
            card=card,
            sidecar=sidecar,
            strict=strict,
            card_origin=origin,
        )

    # ------------------------------------------------------------------ spacing
    def resolve_spacing(
        self, header: tuple[float, ...] | None, ndim: int, where: Path
    ) -> tuple[tuple[float, ...], Source | None]:
        """Pick the pixel spacing (mm, array-axis order) and say where it came from."""
        if header is not None:
            if self.spacing_mm is not None and not np.allclose(
                self._expand(self.spacing_mm, ndim, where), header, rtol=1e-3
            ):
                self.warnings.append(
                    f"--spacing {self.spacing_mm} ignored: the headers store {header} mm"
                )
            return tuple(header), "header"
        if self.spacing_mm is not None:
            return self._expand(self.spacing_mm, ndim, where), "option"
        if self.sidecar is not None and self.sidecar.spacing_mm is not None:
            return self._expand(self.sidecar.spacing_mm, ndim, self.sidecar.path), "sidecar"
        if self.card is not None and self.card.spacing_mm is not None:
            return self._expand(self.card.spacing_mm, ndim, where), "card"
        if self.card is not None and self.card.spacing_convention_mm is not None:
            conv = self.card.spacing_convention_mm
            self.warnings.append(
                f"pixel spacing not stored; using the convention of dataset card "
                f"'{self.card.name}' ({conv:g} px = 1 mm is NOT a measured size)"
                if conv == 1.0
                else f"pixel spacing not stored; using the convention {conv:g} mm of card "
                f"'{self.card.name}'"
            )
            return (conv,) * ndim, "convention"
        msg = (
            f"{where}: the pixel spacing is not stored in the files"
            + (
                " (the sidecar says so)"
                if self.sidecar and self.sidecar.spacing_stated_absent
                else ""
            )
            + " and no dataset card or sidecar gives it; pass --spacing MM"
            + " (or --dataset NAME, see 'motionpredict datasets')"
        )
        if self.strict:
            raise MissingMetadataError(msg)
        self.warnings.append(msg)
        return (1.0,) * ndim, None

    @staticmethod
    def _expand(sp: tuple[float, ...], ndim: int, where: Path) -> tuple[float, ...]:
        if len(sp) == 1:
            return (float(sp[0]),) * ndim
        if len(sp) != ndim:
            from motionpredict.errors import ConfigurationError

            raise ConfigurationError(
                f"{where}: spacing {sp} has {len(sp)} values but the data has {ndim} axes"
            )
        return tuple(float(s) for s in sp)

    # ------------------------------------------------------------------ timing
    def fallback_period(self) -> tuple[float, Source] | None:
        """Frame period from option, sidecar or card (in that order), or ``None``."""
        if self.frame_period_s is not None:
            return self.frame_period_s, "option"
        if self.sidecar is not None and self.sidecar.frame_period_s is not None:
            return self.sidecar.frame_period_s, "sidecar"
        if self.card is not None and self.card.frame_period_s is not None:
            return self.card.frame_period_s, "card"
        return None

    def resolve_times(
        self, header_times: np.ndarray | None, n: int, where: Path, problem: str | None = None
    ) -> tuple[np.ndarray, Source | None]:
        """Frame times in s (relative to the first frame) and their source.

        Parameters
        ----------
        header_times
            ``(n,)`` acquisition times in s from the headers (any origin), or ``None``.
        n
            Number of frames.
        where
            Data path (for messages).
        problem
            Why the header times are unusable (duplicated / not increasing), when they are.
        """
        fallback = self.fallback_period()
        if header_times is not None and problem is None:
            t = np.asarray(header_times, dtype=np.float64) - float(header_times[0])
            if n < 2:
                return t, "acquisition-times"
            steps = np.diff(t)
            med = float(np.median(steps))
            jitter = float(np.max(np.abs(steps - med))) / med
            if jitter <= REGULAR_TOLERANCE or fallback is None:
                if jitter > REGULAR_TOLERANCE:
                    self.warnings.append(
                        f"acquisition times are irregular"
                        f" (steps {steps.min():.4g}-{steps.max():.4g}"
                        f" s); they are used as recorded"
                    )
                if (
                    fallback is not None
                    and fallback[1] == "option"
                    and abs(fallback[0] - med) > 0.01 * med
                ):
                    self.warnings.append(
                        f"--frame-period {fallback[0]:g} s ignored:"
                        f" acquisition times give {med:.6g} s"
                    )
                return t, "acquisition-times"
            self.warnings.append(
                f"acquisition times are irregular (jitter {jitter:.0%}); using the "
                f"{fallback[1]} frame period {fallback[0]:g} s instead"
            )
        elif problem is not None and fallback is not None:
            self.warnings.append(
                f"{problem}; using the {fallback[1]} frame period {fallback[0]:g} s"
            )
        if fallback is not None:
            return np.arange(n, dtype=np.float64) * fallback[0], fallback[1]
        if problem is not None:
            msg = f"{where}: {problem}; pass --frame-period S to use a fixed frame period"
            if self.strict:
                raise InputFileError(
                    where, f"{problem}; pass --frame-period S to use a fixed period"
                )
            self.warnings.append(msg)
            return np.arange(n, dtype=np.float64), None
        msg = (
            f"{where}: the frame period is not in the files (no usable acquisition times) and no "
            "dataset card or sidecar gives it; pass --frame-period S (or --dataset NAME)"
        )
        if self.strict:
            raise MissingMetadataError(msg)
        self.warnings.append(msg)
        return np.arange(n, dtype=np.float64), None
