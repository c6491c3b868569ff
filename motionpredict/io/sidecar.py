"""Sidecar files and the rules that decide frame period and pixel spacing.

Two sidecars are understood:

``sequence.json`` (in the data folder, as in ``../shared/data``)
    ``frame_period_s`` (number or ``null``), ``pixel_spacing_mm`` (list in array-axis order, or
    ``null`` = "the files store none"), ``dataset`` (selects a dataset card whose
    ``sidecar_dataset`` lists it), ``sampling_hz`` (marker data), ``markers`` (marker names).
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from motionpredict.cards import DatasetCard, card_for_sidecar_dataset, find_card
from motionpredict.errors import InputFileError, MissingMetadataError
from motionpredict.sequences import Source

__all__ = ["MetadataHints", "Sidecar", "read_sidecar"]

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
