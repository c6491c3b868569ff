"""motionpredict: respiratory-motion prediction for radiotherapy.

The core package is Qt-free. Sub-packages mapped from the repository's top-level folders:
``motionpredict.registration`` (optical flow and warping), ``motionpredict.kernels`` (GPU kernels
and their PyTorch twins) and ``motionpredict.gui`` (the PySide6 desktop application).
"""

from motionpredict.errors import (
    ConfigurationError,
    InputFileError,
    MissingMetadataError,
    MotionPredictError,
    ValidationError,
)
from motionpredict.sequences import DisplacementFieldSeries, ImageSequence, PointTrajectories

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "DisplacementFieldSeries",
    "ImageSequence",
    "InputFileError",
    "MissingMetadataError",
    "MotionPredictError",
    "PointTrajectories",
    "ValidationError",
    "__version__",
]
