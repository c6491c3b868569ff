"""Proof that a refactoring leaves the outputs bit-identical (issue #18).

Runs ``motionpredict phantom`` + ``motionpredict predict`` on the demo phantoms (cine, 4DCT phases,
markers) and ``predict`` on development sequences of ``../shared/data`` (one marker sequence, one
cine, the 4DCT; skipped when absent), plus the sidecar readers (splits, ROI, horizons, LK
parameters of every ``sequence.json`` in the shared data), and prints one SHA-256 digest per case.

The digests cover the predicted frames (pixel values, spacing, origin, direction), the weight or
position CSV and ``metrics.json`` without its wall-clock entries (``*_ms``, ``*_ms_median``,
``registration_s``).

With ``--base DIR`` the same cases also run on another checkout (e.g. the commit before the
change, made with ``git worktree add /tmp/base <commit>``, imported through ``PYTHONPATH``) in the
same run, and the two digest tables are compared; the exit status is 1 when any case differs.
Mapped folders (``registration/``, ``kernels/``) come from the installed (editable) package in
both runs. Run::

    git worktree add /tmp/h10-base <base-commit>
    python benchmarks/bit_identical.py --base /tmp/h10-base [--json digests.json]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _is_timing(key: str) -> bool:
    """Wall-clock entries of ``metrics.json`` (``*_ms``, ``*_ms_median``, ``registration_s``)."""
    return key.endswith("_ms") or "_ms_" in key or key in ("registration_s", "version")


def _strip_timing(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_timing(v) for k, v in obj.items()
                if not _is_timing(k)}
    if isinstance(obj, list):
        return [_strip_timing(v) for v in obj]
    return obj


def _digest_folder(out: Path) -> str:
    import numpy as np
    import SimpleITK as sitk

    h = hashlib.sha256()
    for f in sorted(out.rglob("*")):
        if not f.is_file():
            continue
        rel = f.relative_to(out).as_posix()
        h.update(rel.encode())
        if f.suffix == ".mha":
            img = sitk.ReadImage(str(f))
            a = sitk.GetArrayFromImage(img)
            h.update(str((a.dtype.str, a.shape, img.GetSpacing(), img.GetOrigin(),
                          img.GetDirection())).encode())
            h.update(np.ascontiguousarray(a).tobytes())
        elif f.name == "metrics.json":
            doc = _strip_timing(json.loads(f.read_text()))
            h.update(json.dumps(doc, sort_keys=True).encode())
        elif f.suffix in (".csv", ".npz", ".json", ".txt"):
            h.update(f.read_bytes())
    return h.hexdigest()


def _cli(argv: list[str]) -> None:
    from motionpredict.cli.main import main

    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(argv)
    if rc not in (0, None):
        raise SystemExit(f"motionpredict {' '.join(argv)} exited {rc}")


def _sidecar_digest() -> str:
    """Digest of what the sidecar readers make of every shared ``sequence.json``."""
    import numpy as np

    from motionpredict.evaluation import protocol as P
    from motionpredict.io import load

    h = hashlib.sha256()
    for sc in sorted(SHARED.rglob("sequence.json")):
        meta = json.loads(sc.read_text())
        h.update(sc.parent.name.encode())
        kind = str(meta.get("kind", ""))
        if "marker" in kind:
            for hz in (10.0, 10.0 / 3.0, 30.0):
                n = int(3000 * hz / 10)
                sp = P.splits_from_sidecar(meta, n, sample_period_s=1.0 / hz)
                h.update(repr(sp).encode())
            continue
        data = load(sc.parent, **({"spacing_mm": 1.0, "frame_period_s": 0.4}
                                  if "ct4d" in kind else {}))
        n = data.n_frames
        h.update(repr(P.splits_from_sidecar(meta, n)).encode())
        h.update(repr(P.horizons_from_sidecar(meta, data.frame_period)).encode())
        roi = P.roi_from_sidecar(meta, data.shape)
        h.update(b"none" if roi is None else np.packbits(roi).tobytes() + repr(roi.shape).encode())
        h.update(repr(meta.get("reference_lk_parameters")).encode())
    return h.hexdigest()


def run_cases(work: Path) -> dict[str, str]:
    """Run every case in ``work`` (the current checkout on ``sys.path``); digests by case."""
    os.chdir(work)
    out: dict[str, str] = {}
    _cli(["phantom", "--out", "cine", "--frames", "60", "--seed", "3"])
    _cli(["predict", "cine/dicom", "--horizon", "0.5s", "--out", "p-cine", "--no-report"])
    out["phantom cine, predict aggregator 0.5 s"] = _digest_folder(Path("p-cine"))
    _cli(["predict", "cine/dicom", "--horizon", "1steps", "--method", "lms", "--mode",
          "reference", "--out", "p-cine-lms", "--no-report"])
    out["phantom cine, predict lms 1 step reference"] = _digest_folder(Path("p-cine-lms"))
    _cli(["phantom", "--out", "ct4d", "--kind", "ct4d", "--seed", "3"])
    _cli(["predict", "ct4d/dicom", "--horizon", "1steps", "--method", "lms", "--out",
          "p-ct4d", "--no-report"])
    out["phantom 4DCT phases, predict lms 1 step"] = _digest_folder(Path("p-ct4d"))
    _cli(["phantom", "--out", "mk", "--kind", "markers", "--seed", "3"])
    _cli(["predict", "mk/markers.csv", "--horizon", "0.5s", "--out", "p-mk", "--no-report"])
    out["phantom markers, predict aggregator 0.5 s"] = _digest_folder(Path("p-mk"))
    if SHARED.is_dir():
        out["shared sidecars (splits, ROI, horizons, LK)"] = _sidecar_digest()
        mk = SHARED / "markers" / "markers-1"
        if mk.is_dir():
            _cli(["predict", str(mk), "--horizon", "0.5s", "--method", "lms", "--out",
                  "p-markers-1", "--no-report"])
            out["markers-1, predict lms 0.5 s"] = _digest_folder(Path("p-markers-1"))
        eth = SHARED / "cine_mri" / "eth-1"
        if eth.is_dir():
            _cli(["predict", str(eth), "--horizon", "1steps", "--method", "lms", "--out",
                  "p-eth-1", "--no-report"])
            out["eth-1, predict lms 1 step (ROI, sidecar splits)"] = _digest_folder(
                Path("p-eth-1"))
        ct = SHARED / "ct4d" / "ct4d-117"
        if ct.is_dir():
            _cli(["predict", str(ct), "--horizon", "1steps", "--method", "lms", "--spacing",
                  "1", "--frame-period", "0.4", "--out", "p-ct4d-117", "--no-report"])
            out["ct4d-117, predict lms 1 step (4DCT path, ROI)"] = _digest_folder(
                Path("p-ct4d-117"))
    return out


def _run_in(tree: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree) + os.pathsep + env.get("PYTHONPATH", "")
    res = subprocess.run([sys.executable, __file__, "--child"], env=env, check=True,
                         stdout=subprocess.PIPE, text=True)
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, default=None,
                    help="checkout of the base commit to compare against")
    ap.add_argument("--json", type=Path, default=None, help="write the digests here")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory() as tmp:
            digests = run_cases(Path(tmp))
        print(json.dumps(digests))
        return 0
    head = _run_in(None)
    base = _run_in(args.base.resolve()) if args.base is not None else None
    width = max(len(k) for k in head)
    differ = 0
    print(f"{'case':<{width}}  {'this tree (sha256, first 16)':<30}  base")
    for k, v in head.items():
        b = None if base is None else base.get(k)
        same = "" if base is None else ("identical" if b == v else f"DIFFERS ({(b or '-')[:16]})")
        differ += bool(base is not None and b != v)
        print(f"{k:<{width}}  {v[:16]:<30}  {same}")
    if args.json is not None:
        args.json.write_text(json.dumps({"head": head, "base": base}, indent=1) + "\n")
    if base is not None:
        print(f"{len(head) - differ} of {len(head)} cases bit-identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
