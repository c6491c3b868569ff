"""Benchmark: reading the 498-frame OvGU cine (header scan + pixels). Target < 1 s on 2 cores.

Prints a table (wall and process CPU time, best of N, taking turns): motionpredict.io.load, its
header scan alone, and the baseline of reading every file fully with
``pydicom.dcmread(...).pixel_array`` in the same run (ratios vs that baseline).
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


def _interleaved(fns: dict[str, object], repeats: int) -> dict[str, tuple[float, float]]:
    """Best wall and CPU time of each function; they take turns so load changes hit all.

    The readers are single-threaded, so the process CPU time approximates the wall time on an
    idle machine when other jobs share the cores.
    """
    best = {name: (float("inf"), float("inf")) for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()  # type: ignore[operator]
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
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
    base_wall, base_cpu = times["pydicom dcmread + pixel_array, every file (baseline)"]
    print(f"folder: {a.folder} ({len(dicom)} files), best of {a.repeats}")
    print(f"{'reader':56s} {'wall s':>7s} {'cpu s':>7s} {'wall/base':>10s} {'cpu/base':>9s}")
    for name, (wall, cpu) in times.items():
        print(f"{name:56s} {wall:7.3f} {cpu:7.3f} {wall / base_wall:10.2f} {cpu / base_cpu:9.2f}")


if __name__ == "__main__":
    main()
