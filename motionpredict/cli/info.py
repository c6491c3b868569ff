"""``motionpredict info PATH``: what a data folder or file holds and how it was interpreted."""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from motionpredict.io.loader import load
from motionpredict.sequences import ImageSequence, PointTrajectories


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``info``."""
    p = subparsers.add_parser(
        "info",
        help="describe a DICOM / MHA / NIfTI / marker-CSV input",
        description=(
            "Read PATH like every other command does and report frames, size, pixel spacing (mm) "
            "and frame period (s) with where each came from, the frame-ordering key, the stored "
            "value range and any warning. Unknown spacing or period is reported as unknown."
        ),
    )
    p.add_argument("path", help="DICOM folder or file, .mha/.nrrd/.nii(.gz)/.seq.nrrd, marker CSV")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument(
        "--dataset", metavar="NAME", help="apply a dataset card (see 'motionpredict datasets')"
    )
    p.add_argument(
        "--frame-period", type=float, metavar="S", help="frame period in s if the files lack it"
    )
    p.add_argument(
        "--spacing",
        type=float,
        nargs="+",
        metavar="MM",
        help="pixel spacing in mm (one value, or one per axis in array order) if the files lack it",
    )
    p.add_argument("--series", metavar="UID", help="SeriesInstanceUID to pick from a mixed folder")
    p.set_defaults(func=run)
    return p


def describe(obj: ImageSequence | PointTrajectories) -> dict[str, Any]:
    """JSON-ready summary of a loaded sequence (the ``--json`` output)."""
    prov = obj.provenance
    out: dict[str, Any] = {"source": prov.source}
    if isinstance(obj, PointTrajectories):
        out.update(
            kind="points",
            n_samples=obj.n_samples,
            n_points=obj.n_points,
            names=list(obj.names or ()),
            sample_period_s=round(obj.sample_period, 6),
            rate_hz=round(1.0 / obj.sample_period, 4),
            duration_s=float(obj.times[-1] - obj.times[0]),
            frame_period_source=prov.frame_period_source,
        )
    else:
        known_sp = prov.spacing_source is not None
        known_t = prov.frame_period_source is not None
        out.update(
            kind="cine-2d" if obj.ndim == 2 else "volumes-3d",
            n_frames=obj.n_frames,
            shape=list(obj.shape),
            spacing_mm=list(obj.spacing) if known_sp else None,
            spacing_source=prov.spacing_source,
            frame_period_s=round(obj.frame_period, 6) if known_t and obj.n_frames > 1 else None,
            frame_period_source=prov.frame_period_source,
            duration_s=float(obj.times[-1] - obj.times[0]) if known_t else None,
            raw_range=list(prov.raw_range) if prov.raw_range else None,
            value_range=[float(np.min(obj.frames)), float(np.max(obj.frames))],
            ordering=prov.ordering,
        )
    out["dataset_card"] = prov.extra.get("dataset_card")
    out["warnings"] = list(prov.warnings)
    return out


def _text(d: dict[str, Any]) -> str:
    lines = [f"source        {d['source']}"]
    if d["kind"] == "points":
        lines += [
            f"kind          {d['n_points']} points ({', '.join(d['names'])}), 3D positions in mm",
            f"samples       {d['n_samples']} at {d['rate_hz']:g} Hz"
            f" (period {d['sample_period_s']:g} s,"
            f" {d['duration_s']:.1f} s)",
        ]
    else:
        size = " x ".join(str(s) for s in d["shape"])
        axes = "rows x cols" if d["kind"] == "cine-2d" else "slices x rows x cols"
        lines.append(f"kind          {d['kind']}: {d['n_frames']} frames of {size} ({axes})")
        if d["spacing_mm"] is None:
            lines.append("spacing       unknown (pass --spacing MM)")
        else:
            sp = " x ".join(f"{s:.4g}" for s in d["spacing_mm"])
            lines.append(f"spacing       {sp} mm (from {d['spacing_source']})")
        if d["frame_period_s"] is None:
            lines.append("frame period  unknown (pass --frame-period S)")
        else:
            lines.append(
                f"frame period  {d['frame_period_s']:.6g} s (from {d['frame_period_source']}),"
                f" {d['duration_s']:.2f} s in all"
            )
        lines.append(f"ordering      {d['ordering']}")
        if d["raw_range"]:
            lines.append(f"stored range  {d['raw_range'][0]:g}..{d['raw_range'][1]:g}")
    if d.get("dataset_card"):
        lines.append(f"dataset card  {d['dataset_card']}")
    lines += [f"warning       {w}" for w in d["warnings"]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the description of ``args.path``."""
    spacing = tuple(args.spacing) if args.spacing else None
    obj = load(
        args.path,
        dataset=args.dataset,
        frame_period_s=args.frame_period,
        spacing_mm=spacing,
        series=args.series,
        strict=False,
    )
    d = describe(obj)
    print(json.dumps(d, indent=2) if args.json else _text(d))
    return 0
