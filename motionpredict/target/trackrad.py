"""The TrackRAD2025 MR-linac challenge case layout, in and out.

A case folder ``<case>/`` holds::

    images/<case>_frames.mha           cine frames, array (H, W, T): time on the last array axis
    targets/<case>_first_label.mha     target label of the first frame, (H, W) or (H, W, 1)
    targets/<case>_labels.mha          per-frame labels, (H, W, T) (labelled cases only)
    frame-rate.json                    frames per second (a JSON number)
    b-field-strength.json              tesla (a JSON number)
    scanned-region.json                e.g. "thorax" (a JSON string)

"Array" is SimpleITK's NumPy view (``GetArrayFromImage``: the slowest image axis first), as in the
challenge's own loaders. The pixel spacing of the rows (H) and columns (W) is read from the image
(SimpleITK spacing ``(T, W, H)``, mm). :func:`read_trackrad_case` returns an
:class:`~motionpredict.sequences.ImageSequence` ``(T, H, W)`` with the first label as the target;
:func:`write_trackrad_case` writes a cine phantom in that layout, its labels being the phantom's
tumour moved by its exact displacement fields, so that tests need no downloaded data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from motionpredict.errors import InputFileError, ValidationError
from motionpredict.io.atomic import atomic_path
from motionpredict.io.sidecar import read_sidecar
from motionpredict.sequences import ImageSequence, Provenance
from motionpredict.target.contour import TargetTrack, move_mask
from motionpredict.target.metrics import series_metrics


@dataclass
class TrackRADCase:
    """One TrackRAD case.

    Attributes
    ----------
    case_id
        The folder name.
    sequence
        ``(T, H, W)`` frames, spacing in mm, times ``k / frame_rate`` s.
    first_label
        ``(H, W)`` bool target on the first frame.
    labels
        ``(T, H, W)`` bool per-frame targets, or ``None`` (unlabelled case).
    frame_rate_hz, b_field_t, scanned_region
        The JSON side files (``None`` where absent).
    """

    case_id: str
    sequence: ImageSequence
    first_label: np.ndarray
    labels: np.ndarray | None
    frame_rate_hz: float
    b_field_t: float | None
    scanned_region: str | None


def _read(path: Path) -> tuple[np.ndarray, tuple[float, ...]]:
    import SimpleITK as sitk

    if not path.is_file():
        raise InputFileError(path, "missing file of the TrackRAD layout")
    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputFileError(path, f"cannot read the image ({str(exc).splitlines()[0]})") from exc
    return sitk.GetArrayFromImage(img), tuple(float(s) for s in img.GetSpacing())


def _json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"not valid JSON ({exc})") from exc


def read_trackrad_case(folder: str | Path) -> TrackRADCase:
    """Read a TrackRAD2025 case folder (layout in the module docstring).

    Raises
    ------
    InputFileError
        A file is missing or unreadable, or ``frame-rate.json`` is not a positive number.
    ValidationError
        The arrays do not have the layout's shapes.
    """
    root = Path(folder)
    case = root.name
    frames, sp = _read(root / "images" / f"{case}_frames.mha")
    if frames.ndim != 3:
        raise ValidationError(f"{case}_frames.mha: expected an (H, W, T) array, got {frames.shape}")
    side = read_sidecar(root)  # frame-rate.json, read by the one sidecar reader
    if side is None or side.frame_period_s is None:
        raise InputFileError(root / "frame-rate.json", "needs a positive number (frames per s)")
    rate = float(side.raw.get("frame_rate_hz", 1.0 / side.frame_period_s))
    first, _ = _read(root / "targets" / f"{case}_first_label.mha")
    first = np.squeeze(first) != 0
    h, w, t = frames.shape
    if first.shape != (h, w):
        raise ValidationError(f"{case}: first label {first.shape} does not fit frames {(h, w)}")
    labels = None
    lab_path = root / "targets" / f"{case}_labels.mha"
    if lab_path.is_file():
        lab, _ = _read(lab_path)
        if lab.shape != frames.shape:
            raise ValidationError(f"{case}: labels {lab.shape} do not fit frames {frames.shape}")
        labels = np.moveaxis(lab != 0, -1, 0)
    b = _json(root / "b-field-strength.json")
    region = _json(root / "scanned-region.json")
    seq = ImageSequence(
        frames=np.moveaxis(frames, -1, 0).astype(np.float32),
        spacing=(sp[2], sp[1]),
        times=np.arange(t) / float(rate),
        provenance=Provenance(
            source=str(root),
            ordering="TrackRAD time axis",
            spacing_source="header",
            frame_period_source="sidecar",
            extra={"layout": "TrackRAD2025", "case": case},
        ),
    )
    return TrackRADCase(
        case_id=case,
        sequence=seq,
        first_label=first,
        labels=labels,
        frame_rate_hz=float(rate),
        b_field_t=float(b) if isinstance(b, int | float) else None,
        scanned_region=str(region) if region is not None else None,
    )


def phantom_labels(
    mask: np.ndarray, true_fields_mm: np.ndarray, spacing_mm: tuple[float, ...]
) -> np.ndarray:
    """``(T, H, W)`` per-frame labels: the reference tumour moved by the exact fields."""
    return np.stack([move_mask(mask, f, spacing_mm) for f in true_fields_mm])


def write_trackrad_case(
    folder: str | Path,
    sequence: ImageSequence,
    first_label: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    b_field_t: float = 1.5,
    scanned_region: str = "phantom",
) -> Path:
    """Write a 2D cine and its target in the TrackRAD2025 layout (``folder`` is the case).

    Parameters
    ----------
    folder
        Case folder ``<case>/`` (created); its name is the case id.
    sequence
        ``(T, H, W)`` cine with a regular frame period.
    first_label
        ``(H, W)`` target of the first frame.
    labels
        ``(T, H, W)`` per-frame targets (e.g. :func:`phantom_labels`), optional.
    b_field_t, scanned_region
        Values of the JSON side files.

    Returns
    -------
    The case folder. Every file is written atomically.
    """
    import SimpleITK as sitk

    root = Path(folder)
    case = root.name
    if sequence.ndim != 2:
        raise ValidationError("the TrackRAD layout holds 2D cine series")
    shape = tuple(sequence.shape)
    if np.shape(first_label) != shape:
        raise ValidationError(f"first label {np.shape(first_label)} does not fit frames {shape}")
    if labels is not None and np.shape(labels) != (sequence.n_frames, *shape):
        raise ValidationError(f"labels {np.shape(labels)} do not fit {(sequence.n_frames, *shape)}")

    def put(arr: np.ndarray, path: Path) -> None:
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing((1.0, sequence.spacing[1], sequence.spacing[0]))
        with atomic_path(path) as tmp:
            sitk.WriteImage(img, str(tmp), useCompression=True)

    put(
        np.moveaxis(np.asarray(sequence.frames, np.float32), 0, -1),
        root / "images" / f"{case}_frames.mha",
    )
    put(np.asarray(first_label, np.uint8)[..., None], root / "targets" / f"{case}_first_label.mha")
    if labels is not None:
        put(
            np.moveaxis(np.asarray(labels, np.uint8), 0, -1),
            root / "targets" / f"{case}_labels.mha",
        )
    for name, value in (
        ("frame-rate.json", 1.0 / sequence.frame_period),
        ("b-field-strength.json", float(b_field_t)),
        ("scanned-region.json", scanned_region),
    ):
        with atomic_path(root / name) as tmp:
            tmp.write_text(json.dumps(value), encoding="utf-8")
    return root


def score_against_labels(track: TargetTrack, labels: np.ndarray) -> dict[str, dict[str, float]]:
    """The challenge's per-frame metrics against reference labels, averaged over the frames.

    ``"tracking"`` (h = 0) scores the target moved by each acquired frame's own field;
    ``"forecast"`` scores the target moved by the field predicted ``h`` frames earlier.

    Parameters
    ----------
    track
        A :class:`~motionpredict.target.contour.TargetTrack` made with ``keep_masks=True``.
    labels
        ``(T_all, H, W)`` per-frame reference labels of the whole sequence.

    Returns
    -------
    ``{"tracking": {"mean_dice": ..., ...}, "forecast": {...}}`` (Dice, HD95, HD, MASD and
    centroid distance in mm, means over the scored frames).
    """
    if track.predicted_masks is None or track.actual_masks is None:
        raise ValidationError("score_against_labels needs a track made with keep_masks=True")
    ref = np.asarray(labels, dtype=bool)[track.targets]
    out = {}
    for name, masks in (("tracking", track.actual_masks), ("forecast", track.predicted_masks)):
        m = series_metrics(masks, ref, track.spacing_mm)
        out[name] = {f"mean_{k}": float(np.mean(v)) for k, v in m.items()}
    return out
