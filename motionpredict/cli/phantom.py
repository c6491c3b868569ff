"""``motionpredict phantom --out DIR``: write a synthetic breathing data set to disk.

The phantom is written in clinical formats (DICOM by default) so that the demo and the tests go
through exactly the loaders used for patient data. Next to the data, ``truth/`` holds the exact
displacement fields (MHA vector image, LPS) and the tumour centroid trajectory (CSV), and
``phantom.json`` the generator parameters.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from motionpredict.errors import ConfigurationError
from motionpredict.io.atomic import atomic_path
from motionpredict.io.write_dicom import write_dicom_series
from motionpredict.io.write_images import write_fields, write_image, write_points_csv


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``phantom``."""
    p = subparsers.add_parser(
        "phantom",
        help="write a synthetic breathing phantom (DICOM / MHA / marker CSV) with ground truth",
        description="Generate a reproducible breathing phantom and write it like clinical data: "
        "a 2D cine (DICOM, one file per frame), a 4DCT (one multi-frame DICOM per phase) or "
        "external markers (CSV), plus the exact displacement fields and tumour trajectory.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same data)")
    p.add_argument("--kind", choices=("cine", "ct4d", "markers"), default="cine")
    p.add_argument(
        "--frames",
        type=int,
        metavar="N",
        help="frames (cine), phases (ct4d), 10 Hz samples (markers)",
    )
    p.add_argument("--format", choices=("dicom", "mha"), default="dicom", dest="fmt")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Generate and write the phantom."""
    from motionpredict import phantom
    from motionpredict.io.atomic import stage_output

    if args.frames is not None and args.frames < 2:
        raise ConfigurationError(f"--frames must be at least 2, got {args.frames}")
    # built in a hidden folder beside --out, moved into place when complete (cli/main.py)
    out = stage_output(Path(args.out), force=getattr(args, "force", False))
    kw: dict[str, Any] = {"seed": args.seed}
    result: phantom.PhantomCine | phantom.PhantomCT | phantom.PhantomMarkers
    if args.kind == "cine":
        if args.frames:
            kw["n_frames"] = args.frames
        result = phantom.make_cine(**kw)
    elif args.kind == "ct4d":
        if args.frames:
            kw["n_phases"] = args.frames
        result = phantom.make_ct4d(**kw)
    else:
        if args.frames:
            kw["duration_s"] = args.frames / 10.0  # 10 Hz samples
        result = phantom.make_markers(**kw)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if isinstance(result, phantom.PhantomMarkers):
        written.append(write_points_csv(result.sequence, out / "markers.csv"))
    else:
        seq = result.sequence
        if args.fmt == "dicom":
            written += write_dicom_series(
                seq,
                out / "dicom",
                description=f"motionpredict phantom {args.kind}, seed {args.seed}",
            )
        else:
            written.append(write_image(seq, out / f"{args.kind}.mha"))
        written.append(write_fields(result.true_fields, out / "truth" / "fields.mha"))
    written.append(write_points_csv(result.tumour, out / "truth" / "tumour.csv"))
    record = result.params.to_dict()
    with atomic_path(out / "phantom.json") as tmp:
        tmp.write_text(
            json.dumps(
                {"kind": args.kind, "seed": args.seed, "params": record}, indent=2, default=str
            ),
            encoding="utf-8",
        )
    data = out / "dicom" if args.kind != "markers" and args.fmt == "dicom" else written[0]
    print(f"wrote {len(written) + 1} files to {out}; load the data with: motionpredict info {data}")
    return 0
