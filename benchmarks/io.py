"""Benchmark: reading the 498-frame OvGU cine (header scan + pixels). Target < 1 s on 2 cores.

Prints a table: motionpredict.io.load, its header scan alone, and the baseline of reading every
file fully with ``pydicom.dcmread(...).pixel_array`` in the same run (ratio vs that baseline).
Run: ``python benchmarks/io.py [FOLDER] [--repeats N]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pydicom

from motionpredict.io import load
from motionpredict.io.dicom_read import list_folder, scan_files

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cine_mri" / "ovgu-ks81"


def _interleaved(fns: dict[str, object], repeats: int) -> dict[str, float]:
    """Best time of each function; the functions take turns so that load changes hit all."""
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()  # type: ignore[operator]
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def main() -> None:
    """Time the readers and print the table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("folder", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    files = list_folder(a.folder)
    dicom = [f for f in files if f.suffix.lower() not in (".json", ".mat")]
    names = {
        "pydicom dcmread + pixel_array, every file (baseline)": lambda: [
            pydicom.dcmread(f).pixel_array for f in dicom
        ],
        "motionpredict header scan only": lambda: scan_files(files),
        "motionpredict.io.load (scan + order + pixels)": lambda: load(a.folder),
    }
    times = _interleaved(names, a.repeats)
    base = times["pydicom dcmread + pixel_array, every file (baseline)"]
    rows = list(times.items())
    print(f"folder: {a.folder} ({len(dicom)} files), best of {a.repeats}")
    print(f"{'reader':56s} {'time s':>8s} {'vs baseline':>12s}")
    for name, t in rows:
        print(f"{name:56s} {t:8.3f} {t / base:12.2f}")


if __name__ == "__main__":
    main()
