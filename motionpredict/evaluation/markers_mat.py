"""Marker series stored as MATLAB ``org_data`` (the published resampled marker files).

The reference implementation forecasts the external markers from ``resampled_<rate>hz.mat``
(``../shared/data/markers/markers-N``): one variable ``org_data`` of shape ``(3 p, T)`` in mm,
rows ``[x_1 .. x_p, y_1 .. y_p, z_1 .. z_p]`` (coordinate-major), displacement from the first
sample. The 3.33 Hz file holds every third 10 Hz sample (period 0.3 s), the 30 Hz file a cubic
spline x3 with noise already drawn (period 1/30 s). The file does not store its sampling period:
the caller states it (``frame_period_s`` in an evaluation configuration); it is never inferred
from the file name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motionpredict.errors import InputFileError, MissingMetadataError
from motionpredict.sequences import PointTrajectories, Provenance

__all__ = ["read_org_data_mat"]


def read_org_data_mat(path: str | Path, *, frame_period_s: float | None,
                      names: list[str] | tuple[str, ...] | None = None) -> PointTrajectories:
    """Read an ``org_data`` marker file as point trajectories.

    Parameters
    ----------
    path
        The ``.mat`` file (MATLAB v5-v7.2, read with :func:`scipy.io.loadmat`).
    frame_period_s
        Time between samples in s (e.g. 0.3, 0.1, 1/30); required.
    names
        Marker names (``p`` of them), e.g. the sidecar's ``markers`` list; ``p0, p1...`` if None.

    Returns
    -------
    PointTrajectories
        ``(T, p, 3)`` positions in mm (as stored: displacement from the first sample), times
        ``t * frame_period_s`` in s, ``frame_period_source = "option"``.

    Raises
    ------
    MissingMetadataError
        If ``frame_period_s`` is not given.
    InputFileError
        If the file cannot be read or holds no ``(3 p, T)`` ``org_data`` with finite values.
    """
    import scipy.io
    from scipy.io.matlab import MatReadError

    p = Path(path)
    if frame_period_s is None:
        raise MissingMetadataError(
            f"{p}: the sampling period of an org_data .mat file is not stored in it; set "
            "frame_period_s (s) for this sequence (e.g. 0.3 for 3.33 Hz, 0.1 for 10 Hz, "
            "0.0333333333 for 30 Hz)")
    period = float(frame_period_s)
    if not np.isfinite(period) or period <= 0:
        raise MissingMetadataError(f"{p}: frame_period_s must be a positive number of seconds, "
                                   f"got {frame_period_s!r}")
    try:
        mat = scipy.io.loadmat(p)
    except (OSError, ValueError, NotImplementedError, MatReadError) as exc:
        raise InputFileError(p, f"cannot read as a MATLAB file ({exc})") from None
    if "org_data" not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise InputFileError(p, f"no variable 'org_data' (found {keys})")
    org = np.asarray(mat["org_data"], dtype=np.float64)
    if org.ndim != 2 or org.shape[0] % 3 or org.shape[0] == 0 or org.shape[1] < 2:
        raise InputFileError(p, f"org_data must be (3 p, T) with T >= 2, got shape {org.shape}")
    if not np.all(np.isfinite(org)):
        col = int(np.argmax(~np.isfinite(org).all(axis=0)))
        raise InputFileError(p, f"org_data holds NaN or Inf (first at sample {col + 1})")
    n_pts, n = org.shape[0] // 3, org.shape[1]
    if names is not None and len(names) != n_pts:
        raise InputFileError(p, f"org_data holds {n_pts} markers but {len(names)} names were "
                                f"given ({list(names)})")
    # rows [x_1..x_p, y_1..y_p, z_1..z_p] -> (coordinate, marker, T) -> (T, marker, coordinate)
    positions = org.reshape(3, n_pts, n).transpose(2, 1, 0)
    prov = Provenance(source=str(p), frame_period_source="option",
                      extra={"format": "org_data .mat (coordinate-major rows)"})
    return PointTrajectories(positions=positions, times=np.arange(n) * period,
                             names=None if names is None else tuple(names), provenance=prov)
