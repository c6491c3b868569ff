"""One entry point for every input: :func:`load`.

Dispatch by what the path is:

* a folder of marker CSV files (Krilavicius format) -> :class:`PointTrajectories`
* a ``.csv`` file -> :class:`PointTrajectories` (plain ``t,x,y,z`` CSV)
* ``.mha/.mhd/.nrrd/.nhdr/.nii/.nii.gz/.seq.nrrd`` -> :class:`ImageSequence` (time last)
* anything else (a folder or a file, any extension) -> DICOM
"""

from __future__ import annotations

from pathlib import Path

from motionpredict.errors import InputFileError
from motionpredict.io.atomic import full_suffix
from motionpredict.io.dicom_read import read_dicom
from motionpredict.io.images import IMAGE_SUFFIXES, read_image_file
from motionpredict.io.limits import check_marker_positions
from motionpredict.io.markers_csv import (
    is_krilavicius_csv,
    read_krilavicius_folder,
    read_plain_csv,
)
from motionpredict.io.ordering import natural_key
from motionpredict.io.sidecar import MetadataHints
from motionpredict.sequences import ImageSequence, PointTrajectories

__all__ = ["load"]


def load(
    path: str | Path,
    *,
    dataset: str | None = None,
    frame_period_s: float | None = None,
    spacing_mm: float | tuple[float, ...] | None = None,
    series: str | None = None,
    strict: bool = True,
) -> ImageSequence | PointTrajectories:
    """Read clinical or phantom data into the motionpredict data model.

    Parameters
    ----------
    path
        DICOM folder or file, MHA / NRRD / NIfTI / ``.seq.nrrd`` file, marker CSV file or folder.
    dataset
        Name of a dataset card (``motionpredict datasets``) giving frame period / spacing that
        the files lack.
    frame_period_s
        Frame period in s, used when the headers carry no usable acquisition times.
    spacing_mm
        Pixel spacing in mm (one value or one per array axis), used when the headers carry none.
    series
        SeriesInstanceUID (or a unique prefix/suffix) to pick from a folder with several series.
    strict
        ``True`` (default): an unknown spacing or frame period raises
        :class:`~motionpredict.errors.MissingMetadataError`. ``False`` (used by
        ``motionpredict info``): placeholders of 1 are used and the provenance source is ``None``.

    Returns
    -------
    ImageSequence or PointTrajectories
        Frames ``(T, H, W)`` / ``(T, D, H, W)`` with spacing (mm) and times (s, relative to the
        first frame), or marker positions ``(T, N, 3)`` mm; ``provenance`` says where each
        quantity came from, which ordering key was used and what was skipped.

    Raises
    ------
    InputFileError
        Missing path, empty folder, corrupt or inconsistent files, mixed series.
    MissingMetadataError
        Spacing or frame period unknown (the message names ``--spacing`` / ``--frame-period``).
    ConfigurationError
        Unknown dataset card or invalid option values.
    """
    p = Path(path)
    if not p.exists():
        raise InputFileError(p, "no such file or folder")
    hints = MetadataHints.build(
        p, dataset=dataset, frame_period_s=frame_period_s, spacing_mm=spacing_mm, strict=strict
    )
    if p.is_dir():
        csvs = sorted(
            (f for f in p.iterdir() if f.is_file() and f.suffix.lower() == ".csv"),
            key=lambda f: natural_key(f.name),
        )
        kril = [f for f in csvs if is_krilavicius_csv(f)]
        if kril:
            known = hints.sidecar.markers if hints.sidecar is not None else None
            traj = read_krilavicius_folder(p, kril, known)
            _annotate(traj, hints, p)
            return traj
        if csvs and not any(
            f.is_file() and f.suffix.lower() not in {".csv", ".json", ".mat", ".txt", ".md"}
            for f in p.iterdir()
        ):
            if len(csvs) == 1:
                traj = read_plain_csv(csvs[0])
                _annotate(traj, hints, csvs[0])
                return traj
            raise InputFileError(
                p, f"{len(csvs)} CSV files that are not in the Krilavicius format; give one file"
            )
        return read_dicom(p, hints, series=series)
    suffix = full_suffix(p)
    if suffix == ".csv":
        traj = (
            read_krilavicius_folder(p.parent, [p]) if is_krilavicius_csv(p) else read_plain_csv(p)
        )
        _annotate(traj, hints, p)
        return traj
    if suffix in IMAGE_SUFFIXES:
        seq = read_image_file(p, hints)
        _annotate(seq, hints)
        return seq
    return read_dicom(p, hints, series=series)


def _annotate(obj: ImageSequence | PointTrajectories, hints: MetadataHints,
              path: Path | None = None) -> None:
    if isinstance(obj, PointTrajectories):
        raw = hints.sidecar.raw if hints.sidecar is not None else {}
        check_marker_positions(
            path if path is not None else Path("markers"), obj.positions, obj.names,
            max_position_mm=_limit(raw, "plausible_position_mm", hints),
            max_step_mm=_limit(raw, "plausible_step_mm", hints))
    extra = obj.provenance.extra
    if hints.card is not None:
        extra["dataset_card"] = hints.card.name
        extra["dataset_card_from"] = hints.card_origin
    if hints.sidecar is not None:
        extra["sidecar"] = str(hints.sidecar.path)
    for w in hints.warnings:
        if w not in obj.provenance.warnings:
            obj.provenance.warnings.append(w)


def _limit(raw: dict[str, object], key: str, hints: MetadataHints) -> float | None:
    """A plausibility limit (mm) stated by the sidecar, else ``None`` (the default)."""
    if key not in raw:
        return None
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        where = hints.sidecar.path if hints.sidecar is not None else Path("sequence.json")
        raise InputFileError(where, f"'{key}' must be a positive length in mm, got {value!r}")
    return float(value)
