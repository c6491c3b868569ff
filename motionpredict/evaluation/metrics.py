"""Former home of the error measures, now :mod:`motionpredict.metrics` (a low layer that the
pipeline, 4DCT and the viewer may import; issue #18).

Kept only as a re-export so that code written against the old path keeps working; import
:mod:`motionpredict.metrics` in new code (the layers contract forbids the pipeline, 4DCT and the
viewer model to import this module).
"""

from motionpredict.metrics import (
    dvf_error_mm,
    field_metrics,
    image_metrics,
    marker_metrics,
    nrmse,
    pearson,
    ssim,
    stage_summary,
)

__all__ = [
    "dvf_error_mm",
    "field_metrics",
    "image_metrics",
    "marker_metrics",
    "nrmse",
    "pearson",
    "ssim",
    "stage_summary",
]
