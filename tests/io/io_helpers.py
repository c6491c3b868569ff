"""Small synthetic inputs for the I/O tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from motionpredict.sequences import ImageSequence


def cine(
    n: int = 6, shape: tuple[int, int] = (12, 10), seed: int = 0, integer: bool = True
) -> ImageSequence:
    """A small 2D cine with distinct frames, 0.25 s period, spacing (1.5, 2.0) mm."""
    rng = np.random.default_rng(seed)
    frames = rng.uniform(0, 1000, size=(n, *shape))
    if integer:
        frames = np.round(frames)
    return ImageSequence(
        frames=frames, spacing=(1.5, 2.0), times=np.arange(n) * 0.25, origin=(3.0, -4.0)
    )


def volumes(n: int = 3, shape: tuple[int, int, int] = (4, 6, 5), seed: int = 1) -> ImageSequence:
    """A small 3D sequence, spacing (2.5, 1.5, 2.0) mm, period 0.5 s."""
    rng = np.random.default_rng(seed)
    frames = np.round(rng.uniform(0, 3000, size=(n, *shape)))
    return ImageSequence(
        frames=frames, spacing=(2.5, 1.5, 2.0), times=np.arange(n) * 0.5, origin=(10.0, -20.0, 5.0)
    )


def write_frame(
    path: Path,
    pixels: np.ndarray | None,
    *,
    series_uid: str = "1.2.3.4",
    preamble: bool = True,
    **attrs: object,
) -> Path:
    """Write one single-frame uint16 DICOM file with the given header attributes."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = generate_uid()
    ds.SeriesInstanceUID = series_uid
    ds.StudyInstanceUID = "1.2.3"
    ds.Modality = "OT"
    if pixels is not None:
        ds.Rows, ds.Columns = pixels.shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.PixelData = pixels.astype("<u2").tobytes()
    else:
        ds.Rows, ds.Columns = 4, 4
    for k, v in attrs.items():
        setattr(ds, k, v)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def write_cine_folder(
    folder: Path, n: int = 5, *, period: float = 0.2, ext: str = ".dcm", **extra: object
) -> np.ndarray:
    """Write ``n`` frames with AcquisitionTime steps of ``period`` s; return the pixel stack."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    stack = rng.integers(0, 4000, size=(n, 8, 7)).astype(np.uint16)
    for i in range(n):
        t = 36000 + i * period
        hh, rem = divmod(t, 3600)
        mm, ss = divmod(rem, 60)
        write_frame(
            folder / f"image{i + 1}{ext}",
            stack[i],
            AcquisitionDate="20240101",
            AcquisitionTime=f"{int(hh):02d}{int(mm):02d}{ss:09.6f}",
            InstanceNumber=i + 1,
            PixelSpacing=[1.25, 1.5],
            **extra,
        )
    return stack
