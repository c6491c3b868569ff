"""External-marker CSV files: the Krilavicius format and plain ``t,x,y,z`` CSV.

Krilavicius format (``../shared/data/markers``)
    A folder with one CSV per marker; header ``"Frame";"Timestamp";"x";"y";"z"``, ``;`` separator,
    decimal comma, ``Timestamp`` in ms, positions in mm. Trailing all-zero rows (a logger
    sentinel) are dropped. The marker name is the upper-case token of the file name that the
    sidecar lists (``LAC``, ``UAC``, ``UCC``), else the file stem.
Plain CSV
    One file, ``,`` separator, decimal point, a header with ``t`` (s) and ``x,y,z`` per marker:
    either ``t,x,y,z`` (one marker) or ``t,<name>_x,<name>_y,<name>_z,...`` as written by
    :func:`motionpredict.io.write_points_csv`. Lines starting with ``#`` are comments.

Every problem (bad number, missing column, unequal lengths or timestamps between markers,
non-increasing times) raises :class:`~motionpredict.errors.InputFileError` naming file and line.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

import numpy as np

from motionpredict.errors import InputFileError
from motionpredict.sequences import PointTrajectories, Provenance

__all__ = ["is_krilavicius_csv", "read_krilavicius_folder", "read_plain_csv"]

_KRIL_HEADER = ("frame", "timestamp", "x", "y", "z")


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputFileError(path, f"cannot read the file ({exc.strerror})") from exc
    if _looks_binary(raw):
        raise InputFileError(path, f"binary data, not a CSV text file ({len(raw)} bytes)")
    for enc in ("utf-8-sig", "latin-1"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InputFileError(path, "not a text file")  # pragma: no cover - latin-1 never fails


def _looks_binary(raw: bytes) -> bool:
    """NUL bytes, more than 2 % control bytes, or (not UTF-8 and) more than 30 % bytes above
    127 in the first 4 kB: not a text file."""
    head = raw[:4096]
    if not head:
        return False
    if b"\x00" in head:
        return True
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    if control > 0.02 * len(head):
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the 4 kB boundary
            return sum(1 for b in head if b > 127) > 0.3 * len(head)
    return False


def _shown(values: list[str], limit: int = 80) -> str:
    """Header cells for a message: printable characters only, shortened."""
    text = ", ".join(values)
    text = "".join(c if c.isprintable() and ord(c) < 0x2000 else "?" for c in text)
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def _header(line: str, sep: str) -> tuple[str, ...]:
    return tuple(c.strip().strip('"').strip().lower() for c in line.split(sep))


def is_krilavicius_csv(path: Path) -> bool:
    """``True`` when the file's first line is the Krilavicius header."""
    try:
        with path.open("r", encoding="utf-8-sig", errors="replace") as fh:
            first = fh.readline()
    except OSError:
        return False
    return _header(first, ";") == _KRIL_HEADER


def _parse_float(text: str, path: Path, line: int, column: str, decimal_comma: bool) -> float:
    t = text.strip().strip('"')
    if decimal_comma:
        t = t.replace(",", ".")
    try:
        v = float(t)
    except ValueError:
        raise InputFileError(
            path, f"line {line}: column {column!r} is not a number: {text!r}"
        ) from None
    if not math.isfinite(v):
        raise InputFileError(path, f"line {line}: column {column!r} is not finite: {text!r}")
    return v


def _read_one_krilavicius(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """Return (times_ms, xyz (T, 3), number of dropped trailing zero rows)."""
    lines = _read_text(path).splitlines()
    if not lines or _header(lines[0], ";") != _KRIL_HEADER:
        got = lines[0] if lines else "(empty file)"
        raise InputFileError(
            path,
            f'expected the header "Frame";"Timestamp";"x";"y";"z" with ";" separators, got {got!r}',
        )
    rows: list[list[float]] = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split(";")
        if len(cells) != 5:
            raise InputFileError(
                path, f"line {n}: expected 5 ';'-separated columns, got {len(cells)}"
            )
        rows.append(
            [
                _parse_float(c, path, n, name, decimal_comma=True)
                for c, name in zip(cells, ("Frame", "Timestamp", "x", "y", "z"), strict=True)
            ]
        )
    data = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
    dropped = 0
    while data.shape[0] and not np.any(data[-1]):
        data = data[:-1]
        dropped += 1
    if data.shape[0] == 0:
        raise InputFileError(path, "no samples (only a header or all-zero rows)")
    return data[:, 1], data[:, 2:5], dropped


def _repair_isolated_glitches(t_ms: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Replace corrupt timestamps by interpolation between their regular neighbours.

    The Krilavicius logger sometimes writes garbled timestamps (e.g. ``25,6`` and ``25,8`` between
    12700 and 13017 ms) while the rows around them are regular. A timestamp further than five
    median steps from the median of its +-3 neighbours is such a glitch; it is replaced by linear
    interpolation (over the sample index) between the nearest regular samples. Whatever disorder
    remains is refused by :func:`_check_times`.

    Returns
    -------
    (times in ms, 0-based indices of the repaired samples)
    """
    t = np.array(t_ms, dtype=np.float64)
    n = t.size
    if n < 4:
        return t, []
    step = float(np.median(np.abs(np.diff(t))))
    if step <= 0:
        return t, []
    padded = np.pad(t, 3, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 7)
    local = np.median(windows, axis=1)
    bad = np.abs(t - local) > 5.0 * step
    if not bad.any() or bad.all():
        return t, []
    idx = np.arange(n)
    t[bad] = np.interp(idx[bad], idx[~bad], t[~bad])
    return t, [int(i) for i in idx[bad]]


def _check_times(t_s: np.ndarray, path: Path, first_line: int = 2) -> None:
    steps = np.diff(t_s)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0))
        what = "duplicated" if steps[i] == 0 else "decreasing"
        raise InputFileError(
            path,
            f"line {i + first_line + 1}: {what} timestamp"
            f" ({t_s[i + 1]:.6g} s after {t_s[i]:.6g} s)",
        )


def _marker_name(path: Path, known: tuple[str, ...] | None) -> str:
    tokens = re.split(r"[-_.\s]+", path.stem)
    if known:
        for tok in tokens:
            if tok.upper() in (k.upper() for k in known):
                return tok.upper()
    return path.stem


def _distinct_tokens(files: list[Path]) -> tuple[str, ...] | None:
    """Names from the one alphabetic file-name token that differs between the files.

    ``201205101519-LAC-1-T-222-6.csv``, ``...-UAC-...`` -> ``("LAC", "UAC")``.
    """
    split = [re.split(r"[-_.\s]+", f.stem) for f in files]
    if len(files) < 2 or len({len(t) for t in split}) != 1:
        return None
    cols = [
        i
        for i in range(len(split[0]))
        if len({t[i] for t in split}) == len(files) and all(t[i].isalpha() for t in split)
    ]
    return tuple(t[cols[0]] for t in split) if len(cols) == 1 else None


def read_krilavicius_folder(
    folder: Path, files: list[Path], known_names: tuple[str, ...] | None = None
) -> PointTrajectories:
    """Read a Krilavicius marker folder (one CSV per marker) into ``(T, N, 3)`` mm, times in s.

    Parameters
    ----------
    folder
        The folder (for messages).
    files
        Its marker CSV files, in the order the markers should appear.
    known_names
        Marker names from the sidecar, used to name the markers.

    Raises
    ------
    InputFileError
        A bad file, unequal sample counts or timestamps between markers.
    """
    times_ms: list[np.ndarray] = []
    xyz: list[np.ndarray] = []
    dropped = 0
    repaired: dict[str, list[int]] = {}
    for f in files:
        t, p, d = _read_one_krilavicius(f)
        t, fixed = _repair_isolated_glitches(t)
        if fixed:
            repaired[f.name] = [i + 2 for i in fixed]  # line numbers (header = line 1)
        _check_times(t / 1000.0, f)
        times_ms.append(t)
        xyz.append(p)
        dropped += d
    lengths = {f.name: len(t) for f, t in zip(files, times_ms, strict=True)}
    if len(set(lengths.values())) > 1:
        raise InputFileError(folder, f"markers have unequal numbers of samples: {lengths}")
    for f, t in zip(files[1:], times_ms[1:], strict=True):
        if not np.array_equal(t, times_ms[0]):
            i = int(np.argmax(t != times_ms[0]))
            raise InputFileError(
                f,
                f"sample {i + 1}: timestamp {t[i]:g} ms differs from {times_ms[0][i]:g} ms in "
                f"{files[0].name}",
            )
    names = tuple(_marker_name(f, known_names) for f in files)
    if not known_names:
        names = _distinct_tokens(files) or names
    if len(set(names)) != len(names):
        names = tuple(f.stem for f in files)
    prov = Provenance(
        source=str(folder),
        ordering="Timestamp",
        frame_period_source="header",
        extra={
            "format": "krilavicius-csv",
            "files": [f.name for f in files],
            "dropped_trailing_zero_rows": dropped,
            "time_origin_ms": float(times_ms[0][0]),
        },
    )
    for name, lines in repaired.items():
        prov.warnings.append(
            f"{name}: corrupt timestamp(s) on line(s) {', '.join(map(str, lines))} replaced by "
            "interpolation between the regular timestamps around them"
        )
    if dropped:
        prov.warnings.append(
            f"dropped {dropped} trailing all-zero row(s) (logger sentinel)"
            f" over {len(files)} file(s)"
        )
    t_s = (times_ms[0] - times_ms[0][0]) / 1000.0
    return PointTrajectories(
        positions=np.stack(xyz, axis=1), times=t_s, names=names, provenance=prov
    )


def read_plain_csv(path: Path) -> PointTrajectories:
    """Read a plain ``t,x,y,z`` (or ``t,<name>_x,<name>_y,<name>_z,...``) CSV; t in s, mm.

    Raises
    ------
    InputFileError
        Missing ``t`` column, columns not in x/y/z triplets, bad numbers, non-increasing times.
    """
    text = _read_text(path)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise InputFileError(path, "empty CSV file")
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    header = [h.strip().lower() for h in rows[0]]
    if not header or header[0] not in ("t", "time", "time_s", "t_s"):
        raise InputFileError(path, f"first column must be the time 't' in s, header is "
                                   f"{_shown(rows[0])}")
    cols = header[1:]
    if len(cols) == 0 or len(cols) % 3:
        raise InputFileError(
            path, f"expected x,y,z columns per marker after 't', got {_shown(rows[0][1:])}"
        )
    names: list[str] = []
    for k in range(0, len(cols), 3):
        trip = cols[k : k + 3]
        if trip == ["x", "y", "z"]:
            names.append(f"p{k // 3}")
            continue
        stems = {c.rsplit("_", 1)[0] for c in trip}
        axes = [c.rsplit("_", 1)[-1] for c in trip]
        if len(stems) != 1 or axes != ["x", "y", "z"]:
            raise InputFileError(path, f"columns {rows[0][k + 1 : k + 4]} are not <name>_x,_y,_z")
        names.append(rows[0][k + 1].strip().rsplit("_", 1)[0])
    data = np.empty((len(rows) - 1, len(header)), dtype=np.float64)
    for i, row in enumerate(rows[1:]):
        if len(row) != len(header):
            raise InputFileError(
                path, f"data row {i + 1}: {len(row)} values for {len(header)} columns"
            )
        for j, cell in enumerate(row):
            data[i, j] = _parse_float(cell, path, i + 2, header[j], decimal_comma=False)
    if data.shape[0] == 0:
        raise InputFileError(path, "no data rows")
    _check_times(data[:, 0], path)
    prov = Provenance(
        source=str(path), ordering="t", frame_period_source="header", extra={"format": "csv"}
    )
    return PointTrajectories(
        positions=data[:, 1:].reshape(data.shape[0], -1, 3),
        times=data[:, 0],
        names=tuple(names),
        provenance=prov,
    )
