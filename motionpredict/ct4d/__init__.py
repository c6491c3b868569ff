"""4DCT internal-point prediction: point tracking, breathing series, correspondence models.

* :func:`pick_points`, :func:`track_points` - internal points near the tumour, through fields;
* :func:`make_breathing_series` / :class:`BreathingSeries` - a long, seeded, replayable series
  cycled through the phases of a 4DCT;
* :class:`LinearCorrespondence`, :class:`NadarayaWatsonCorrespondence` - surrogate -> 3D field;
* :func:`forecast_series`, :func:`run_ct4d`, :func:`predict_volume` - forecast points or a
  surrogate at a horizon in s and rebuild the predicted volume;
* :func:`point_errors`, :func:`volume_metrics` - mm errors, ROI Pearson / nRMSE;
* :func:`prepare_ct4d` - register, pick and track points, build the series in one call;
* :func:`orthogonal_views` - three slices with tumour contours, as arrays for the GUI.
"""

from motionpredict.ct4d.breathing_series import (
    BreathingSeries,
    SeriesParams,
    draw_series_params,
    make_breathing_series,
)
from motionpredict.ct4d.correspondence import (
    CorrespondenceModel,
    LinearCorrespondence,
    NadarayaWatsonCorrespondence,
    make_correspondence,
)
from motionpredict.ct4d.experiment import Ct4dSetup, prepare_ct4d
from motionpredict.ct4d.metrics import point_errors, volume_metrics
from motionpredict.ct4d.pipeline import (
    Ct4dRun,
    SeriesForecast,
    VolumeForecast,
    evaluate_volumes,
    forecast_series,
    predict_volume,
    roi_mask_xyz,
    run_ct4d,
    training_pairs,
)
from motionpredict.ct4d.points import corner_score, pick_points, track_points
from motionpredict.ct4d.views import OrthoView, orthogonal_views, warp_mask

__all__ = [
    "BreathingSeries",
    "CorrespondenceModel",
    "Ct4dRun",
    "Ct4dSetup",
    "LinearCorrespondence",
    "NadarayaWatsonCorrespondence",
    "OrthoView",
    "SeriesForecast",
    "SeriesParams",
    "VolumeForecast",
    "corner_score",
    "draw_series_params",
    "evaluate_volumes",
    "forecast_series",
    "make_breathing_series",
    "make_correspondence",
    "orthogonal_views",
    "pick_points",
    "point_errors",
    "predict_volume",
    "prepare_ct4d",
    "roi_mask_xyz",
    "run_ct4d",
    "track_points",
    "training_pairs",
    "volume_metrics",
    "warp_mask",
]
