"""Clinical data in and out: DICOM, MHA / NRRD / NIfTI, Slicer sequences, marker CSV.

Public API
----------
:func:`load`
    Read a DICOM folder or file, an image file with time last, or marker CSV.
:func:`write_dicom_series`, :func:`write_image`, :func:`write_fields`, :func:`write_points_csv`
    Write predicted frames, displacement fields and trajectories (all atomic, de-identified).
:func:`atomic_path`
    Context manager for atomic writes.
"""

from motionpredict.io.atomic import atomic_path
from motionpredict.io.loader import load
from motionpredict.io.write_dicom import write_dicom_series
from motionpredict.io.write_images import read_fields, write_fields, write_image, write_points_csv

__all__ = [
    "atomic_path",
    "load",
    "read_fields",
    "write_dicom_series",
    "write_fields",
    "write_image",
    "write_points_csv",
]
