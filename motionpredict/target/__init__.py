"""From motion to the tumour: predicted target masks and centroids (mm), per-frame target metrics,
online conformal prediction intervals and beam-gating simulation (see docs/target.md).

The core never imports Qt.
"""

from motionpredict.target.contour import (
    TargetTrack,
    mask_from_label,
    mask_from_sidecar,
    move_mask,
    track_fields,
    track_pipeline,
)
from motionpredict.target.gating import (
    GatingResult,
    gating_curve,
    plot_gating_curves,
    simulate_gating,
)
from motionpredict.target.intervals import AdaptiveConformal, IntervalSeries, conformal_series
from motionpredict.target.metrics import (
    METRIC_NAMES,
    centroid_mm,
    overlap_metrics,
    series_metrics,
    surface_distances,
)
from motionpredict.target.slicer import write_slicer_cinetrack
from motionpredict.target.trackrad import (
    TrackRADCase,
    phantom_labels,
    read_trackrad_case,
    score_against_labels,
    write_trackrad_case,
)

__all__ = [
    "METRIC_NAMES",
    "AdaptiveConformal",
    "GatingResult",
    "IntervalSeries",
    "TargetTrack",
    "TrackRADCase",
    "centroid_mm",
    "conformal_series",
    "gating_curve",
    "mask_from_label",
    "mask_from_sidecar",
    "move_mask",
    "overlap_metrics",
    "phantom_labels",
    "plot_gating_curves",
    "read_trackrad_case",
    "score_against_labels",
    "series_metrics",
    "simulate_gating",
    "surface_distances",
    "track_fields",
    "track_pipeline",
    "write_slicer_cinetrack",
    "write_trackrad_case",
]
