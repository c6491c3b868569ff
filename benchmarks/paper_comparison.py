"""Our numbers next to the published ones, under the published protocol.

Finds every sequence folder (with a ``sequence.json``) under ``--data``, runs the protocol of
:mod:`motionpredict.evaluation.protocol` (registration with the sequence's reference LK parameters,
PCA on the training frames, hyper-parameters and number of components chosen per horizon on the
validation window, numbers on the test window only) in both modes, and prints per dataset, method
and horizon the mean geometric error (whole image and ROI) beside
``reference_results.csv``; for marker sequences the mean nRMSE beside the averages of the data
README. Results are stored in ``--out`` (one run folder per dataset), so an interrupted run resumes;
registration fields and PCA fits are cached on disk (``--cache``, default ``OUT/cache``).

Cine tables lead with image space, the quantities that do not depend on whose registration
measured them: SSIM (data range 255), nRMSE (mean of per-frame values, the published definition,
with the pooled value beside it) and Pearson correlation of the predicted frames against the
acquired test frames, under two reference rows computed by the project from the data alone:

* *previous image*: the acquired frame ``h`` frames earlier used as the prediction (the floor any
  forecaster must beat);
* *LK-field bound*: frame 1 forward-warped by the frame's own Lucas-Kanade field (the ceiling of a
  perfect forecast of the PCA weights, up to PCA truncation).

The mean geometric (DVF) error follows, labelled *vs our own LK fields*: it is measured against
our registration's fields, which differ from the reference implementation's (the same predicted
frames score differently against other fields), so it is comparable with the published column only
in ratio. Published sequence names are mapped for all ETH (``eth-1`` ... ``eth-4``, from the
original folders ``2. sq sl010 sag Xcs=125`` ...) and all eight OvGU sequences (KS81, QN76, CS31,
JY02, ON65, PS11, II29, NE38), from the sidecar's ``original_folder`` or the folder name.

    python benchmarks/paper_comparison.py --data ../shared/data [--grid reduced|published|full]
        [--methods ...] [--seeds 1] [--modes causal reference] [--jobs 2] [--out paper-run]
        [--datasets ETH OvGU]

Grids (cine; ``n_components`` is chosen on validation too):

``--grid full``
    the published grids of the data README unchanged: RNNs k x q {10,30,...,110} x eta
    {0.005,0.01,0.015,0.02}, LMS k x eta {0.02,0.05,0.1,0.2}, linear k, sequence transformer k x
    lr {1e-4,5e-4} x layers {1,2} x d_model {8,16}; n_components {1,2,3,4}.
``--grid published`` (what fits in an hour on 2 CPU cores for ETH-1 + OvGU-KS81), the full grids
    with these reductions, printed with the results (:data:`REDUCTIONS`):

    - one random initialisation per RNN / transformer (published: RTRL 10, other RNNs 250,
      transformer 10), so our numbers are one draw, not a mean over draws;
    - UORO, SnAp-1, DNI, fixed-W RNN: q {10, 30, 70, 110} (no 50, 90) and eta {0.005, 0.01,
      0.02} (no 0.015); k as published;
    - RTRL: q {10, 30} (its influence matrix makes a step O(q^4): ~14 ms at q = 110 against
      ~0.06 ms at q = 10; the data README's marker grid also stops RTRL at q = 40), eta {0.005,
      0.01, 0.02};
    - sequence transformer: d_model 16, 1 layer (no 8 / 2 layers), k {first, middle} of the
      published k grid (ETH 6, 18 of 6-30; OvGU 11, 34 of 11-57: attention over the longest
      histories cost most of its time), lr {1e-4, 5e-4}; 50 epochs, batch 32, dropout 0.5,
      2 heads as published;
    - offline methods (no prediction, linear regression, transformer) ignore the look-ahead, so
      they run once (causal) and the same numbers are printed for both modes (marked ``=``).

``--grid reduced`` (quick look) keeps two values of each RNN axis (k: first and middle of the
published grid, q: {10, 30}, eta: {0.01, 0.02}) and n_components {1, 2, 3}.

``--preset default`` gives the methods that ``--grid`` does not set (RLS, the aggregator,
``snap1-hybrid``, ...) the affordable preset of :mod:`motionpredict.evaluation.grids` instead of
their declared published grids (the aggregator and ``snap1-hybrid`` search nothing; the PCA size
is the sidecar's, else 3; ``--n-components`` replaces it). Where the published image metrics of
the sequence are known (:data:`PUBLISHED_IMAGE`: eth-1 and KS81, SnAp-1 and no prediction) the
image table shows them, followed by the cine target of issue 15 (SSIM of each method minus the
published look-ahead SnAp-1 SSIM); docs/results-cine.md has the numbers.

The population transformer (trained on other patients) is not run.
Wall and CPU time (sum over the workers' jobs, and all processes together) are printed per
dataset and per method, with what was reduced.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from motionpredict.evaluation.batch import load_sequence, run_evaluation
from motionpredict.evaluation.config import EvalConfig
from motionpredict.evaluation.stats import spread
from motionpredict.evaluation.store import ResultStore

#: Our method names -> the names in reference_results.csv.
PUBLISHED_NAME = {
    "no-prediction": "no pred. (last PCA wt)", "linear": "linear regr.", "lms": "LMS",
    "rtrl": "RTRL", "uoro": "UORO", "snap1": "SnAp-1", "dni": "DNI",
    "rnn-fixed": "fixed-W RNN", "transformer": "seq. transformer",
}
RNNS = ("rtrl", "uoro", "snap1", "dni", "rnn-fixed")
K_GRID = {"ETH": [6, 12, 18, 24, 30], "OvGU": [11, 23, 34, 45, 57],
          "10hz": [12, 24, 36, 48, 60], "3.33hz": [4, 8, 12, 16, 20],
          "30hz": [36, 72, 108, 144, 180]}
MARKER_PUBLISHED = {"10hz": ("snap1", 0.157), "3.33hz": ("snap1", 0.335), "30hz": ("uoro", 0.086)}
MARKER_LMS_ETA = {"3.33hz": [2e-4, 5e-4, 1e-3], "10hz": [1e-4, 2e-4, 5e-4],
                  "30hz": [5e-5, 1e-4, 2e-4]}


#: Offline methods and no prediction: the look-ahead of reference mode changes nothing.
MODE_FREE = ("no-prediction", "linear", "transformer")

#: Original folder of the reference implementation -> sequence name of the published tables
#: (reference_results.csv): the four ETH sagittal sequences and the eight OvGU navigators.
PUBLISHED_SEQUENCE = {
    "2. sq sl010 sag Xcs=125": "eth-1", "3. sq sl010 sag Xcs=80": "eth-2",
    "4. sq sl014 sag Xcs=165": "eth-3", "5. sq sl014 sag Xcs=95": "eth-4",
    "2020-11-10_KS81_Nav_Pur_1": "KS81", "2020-11-12_QN76_Nav_Pur_1": "QN76",
    "2020-11-17_CS31_Nav_Pur_2": "CS31", "2020-11-17_JY02_Nav_Pur_2": "JY02",
    "2020-11-23_ON65_Nav_Pur_2": "ON65", "2020-11-23_PS11_Nav_Pur_1": "PS11",
    "2020-11-25_II29_Nav_Pur_1": "II29", "2020-11-26_NE38_Nav_Pur_1": "NE38",
}
#: Published LK-field bounds (frame 1 warped by the LK field, test frames, whole image): ETH,
#: OvGU mean over its sequences; SSIM (range 255), nRMSE, Pearson.
PUBLISHED_BOUND = {"ETH": {"ssim_255": 0.918, "nrmse_frames": 0.159, "pearson": 0.991},
                   "OvGU": {"ssim_255": 0.753, "nrmse_frames": 0.253, "pearson": 0.966}}
#: Published image metrics of the predicted test frames (whole image), per sequence and horizon
#: (frames): (SSIM with data range 255, nRMSE as the mean of per-frame values, Pearson
#: correlation), from the reference repository's results workbook
#: (Image_prediction/statistical_analysis/im_pred_perf.xlsx, sheets "q_max=110 eta (0.002, 0.2)
#: ETH" and "Magdeburg dataset full image", column of the sequence; its mean DVF errors are
#: those of reference_results.csv). SnAp-1 there learns with the look-ahead (reference mode).
PUBLISHED_IMAGE: dict[tuple[str, str], dict[int, tuple[float, float, float]]] = {
    ("eth-1", "SnAp-1"): {1: (0.8869, 0.1672, 0.9877), 2: (0.8855, 0.1701, 0.9873),
                          3: (0.8838, 0.1729, 0.9868), 4: (0.8829, 0.1745, 0.9866),
                          5: (0.8820, 0.1755, 0.9864), 6: (0.8823, 0.1750, 0.9865),
                          7: (0.8813, 0.1763, 0.9863)},
    ("eth-1", "no pred."): {1: (0.8747, 0.1805, 0.9855), 2: (0.8611, 0.2005, 0.9820),
                            3: (0.8532, 0.2104, 0.9796), 4: (0.8490, 0.2148, 0.9781),
                            5: (0.8528, 0.2121, 0.9792), 6: (0.8585, 0.2043, 0.9806),
                            7: (0.8588, 0.2036, 0.9804)},
    ("KS81", "SnAp-1"): {1: (0.6613, 0.2875, 0.9573), 2: (0.6556, 0.2939, 0.9552),
                         3: (0.6582, 0.2916, 0.9560), 4: (0.6579, 0.2919, 0.9559),
                         5: (0.6576, 0.2922, 0.9558), 6: (0.6575, 0.2925, 0.9557),
                         7: (0.6550, 0.2951, 0.9548), 8: (0.6549, 0.2953, 0.9547),
                         9: (0.6548, 0.2953, 0.9547), 10: (0.6545, 0.2956, 0.9546),
                         11: (0.6545, 0.2956, 0.9546), 12: (0.6544, 0.2958, 0.9546),
                         13: (0.6544, 0.2957, 0.9546)},
    ("KS81", "no pred."): {1: (0.6579, 0.2943, 0.9554), 2: (0.6372, 0.3155, 0.9485),
                           3: (0.6156, 0.3378, 0.9406), 4: (0.6020, 0.3522, 0.9352),
                           5: (0.5920, 0.3631, 0.9309), 6: (0.5844, 0.3768, 0.9258),
                           7: (0.5794, 0.3802, 0.9241), 8: (0.5755, 0.3851, 0.9219),
                           9: (0.5749, 0.3832, 0.9227), 10: (0.5746, 0.3837, 0.9224),
                           11: (0.5751, 0.3831, 0.9227), 12: (0.5770, 0.3808, 0.9235),
                           13: (0.5803, 0.3771, 0.9250)},
}
OVGU_CODES = ("KS81", "QN76", "CS31", "JY02", "ON65", "PS11", "II29", "NE38")


def published_sequence(name: str, meta: dict[str, Any] | None = None) -> str:
    """The published tables' name of one of our sequences.

    The sidecar's ``original_folder`` decides when it is known; otherwise the folder name:
    ``eth-N`` stays, ``ovgu-ks81`` (any case, any separator) becomes ``KS81``; anything else is
    returned unchanged.
    """
    folder = (meta or {}).get("original_folder")
    if isinstance(folder, str) and folder.strip() in PUBLISHED_SEQUENCE:
        return PUBLISHED_SEQUENCE[folder.strip()]
    low = name.lower()
    for code in OVGU_CODES:
        if code.lower() in low:
            return code
    for k in range(1, 5):
        if low in (f"eth-{k}", f"eth{k}", f"eth_{k}"):
            return f"eth-{k}"
    return name

#: What ``--grid published`` reduces from the published protocol (printed with the results).
REDUCTIONS = (
    "seeds: 1 random initialisation per RNN / transformer (published: RTRL 10, RNNs 250, "
    "transformer 10)",
    "UORO, SnAp-1, DNI, fixed-W RNN: q {10, 30, 70, 110} of {10, 30, 50, 70, 90, 110}, "
    "eta {0.005, 0.01, 0.02} of {0.005, 0.01, 0.015, 0.02}; k as published",
    "RTRL: q {10, 30} of {10, ..., 110}, eta {0.005, 0.01, 0.02}; k as published",
    "sequence transformer: d_model 16 (not 8), 1 layer (not 2), k {first, middle} of the "
    "published k (ETH 6, 18; OvGU 11, 34); lr {1e-4, 5e-4}, 50 epochs, batch 32 as published",
    "no prediction, linear, transformer: run once (causal); reference mode is identical for "
    "them (no online learning) and printed from the same run",
)


def grids(group: str, methods: list[str], kind: str, markers: bool) -> dict[str, Any]:
    """Per-method grid overrides for a dataset group (``kind``: reduced, published or full)."""
    reduced = kind == "reduced"
    pub = kind == "published"
    kg = K_GRID[group]
    k = [kg[0], kg[2]] if reduced else kg
    out: dict[str, dict[str, Any]] = {}
    for m in methods:
        if m in RNNS:
            q = ([10, 25, 40] if m == "rtrl" else [30, 60, 90, 120, 150, 180]) if markers \
                else [10, 30, 50, 70, 90, 110]
            eta = [0.005, 0.01, 0.02] if markers else [0.005, 0.01, 0.015, 0.02]
            if reduced:
                q, eta = [10, 30], [0.01, 0.02]
            elif pub and not markers:
                q = [10, 30] if m == "rtrl" else [10, 30, 70, 110]
                eta = [0.005, 0.01, 0.02]
            out[m] = {"k": k, "q": q, "eta": eta}
        elif m == "lms":
            out[m] = {"k": k, "eta": MARKER_LMS_ETA.get(group, [0.02, 0.05, 0.1, 0.2])}
        elif m == "transformer":
            if reduced or pub:
                out[m] = {"k": [kg[0], kg[2]], "lr": [1e-4, 5e-4],
                          "layers": [1], "d_model": [16]}
            else:
                out[m] = {"k": k, "lr": [1e-4, 5e-4], "layers": [1, 2], "d_model": [8, 16]}
        elif m in ("linear", "svr"):
            out[m] = {"k": k}
    return out


def discover(data: Path) -> dict[str, list[dict[str, Any]]]:
    """Sequence specs grouped by dataset (ETH, OvGU, 10hz markers)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for side in sorted(data.rglob("sequence.json")):
        meta = json.loads(side.read_text())
        kind = meta.get("kind")
        spec: dict[str, Any] = {"path": str(side.parent), "name": meta.get("name",
                                                                           side.parent.name)}
        if kind == "cine-mri-2d":
            if meta.get("pixel_spacing_mm") is None:
                spec["spacing_mm"] = [1.0, 1.0]  # the published convention, 1 px = 1 mm
            groups[meta.get("dataset", "cine")].append(spec)
        elif kind == "external-markers-3d":
            groups["10hz"].append(spec)
    return groups


def published_names(data: Path) -> dict[str, str]:
    """Our sequence name -> the published tables' name, for every sidecar under ``data``."""
    out = {}
    for side in sorted(data.rglob("sequence.json")):
        meta = json.loads(side.read_text())
        name = meta.get("name", side.parent.name)
        out[name] = published_sequence(name, meta)
    return out


def reference_rows(spec: dict[str, Any], horizons: list[int], cache: Path
                   ) -> tuple[str, dict[Any, dict[str, float]]]:
    """Image metrics of the two reference rows over the sequence's test window.

    Returns the sequence name and ``{("previous", h): metrics, "bound": metrics}``: the acquired
    frame ``h`` frames earlier as the prediction, and frame 1 (the registration reference)
    forward-warped (Gaussian splat, as the predicted frames) by the frame's own LK field with
    the sequence's reference parameters (the fields of the evaluation, read from its cache).
    """
    import numpy as np

    from motionpredict.evaluation.cache import ArrayCache
    from motionpredict.evaluation.protocol import register_all
    from motionpredict.metrics import image_metrics
    from motionpredict.pipeline import SPLAT_SIGMA_PX, true_range
    from motionpredict.registration import warp_forward

    seq = load_sequence(spec)
    data = seq.data
    first, stop = seq.splits.test
    test = list(range(first, stop))
    acquired = data.frames[test]
    rng = true_range(data)
    out: dict[Any, dict[str, float]] = {}
    for h in horizons:
        if first - h >= 0:
            out[("previous", h)] = image_metrics(data.frames[[t - h for t in test]], acquired,
                                                 true_range=rng)
    fields, _, _ = register_all(data, lk_params=seq.lk_reference or None,
                                cache=ArrayCache(cache))
    spacing = np.asarray(data.spacing, dtype=np.float32)
    ref = data.frames[0]
    bound = np.stack([warp_forward(ref, np.moveaxis(fields[t] / spacing, -1, 0),
                                   sigma=SPLAT_SIGMA_PX) for t in test])
    out["bound"] = image_metrics(bound, acquired, true_range=rng)
    return seq.name, out


def _img(m: dict[str, float] | None) -> str:
    """SSIM | nRMSE per frame | nRMSE pooled | Pearson cells."""
    if not m:
        return "| | | | "
    frames = m.get("nrmse_frames")
    per = "" if frames is None else f"{frames:.3f}"
    return f"| {m['ssim_255']:.3f} | {per} | {m['nrmse']:.3f} | {m['pearson']:.4f} "


def print_image_table(rows: list[dict[str, Any]], refs: dict[str, dict[Any, dict[str, float]]],
                      names: dict[str, str], modes: list[str], group: str = "") -> None:
    """The image-space comparison (the headline): predicted frames against the acquired test
    frames, with the previous-image and LK-field-bound rows per sequence and horizon."""
    import numpy as np

    cells: dict[tuple, list[dict[str, float]]] = defaultdict(list)
    for r in rows:
        sp = r["spec"]
        cells[(sp["sequence_name"], sp["horizon_steps"], sp["method"], sp["mode"])].append(
            r["result"]["metrics"])
    print("\nImage space (test frames, whole image; SSIM data range 255; nRMSE per frame = mean "
          "of per-frame values, the published definition; pooled over the window beside it; an "
          "empty per-frame cell: stored by a run before it was recorded)")
    print("| sequence (published) | h (frames) | method | mode | SSIM | nRMSE per frame | "
          "nRMSE pooled | Pearson |")
    print("|---|---|---|---|---|---|---|---|")
    order = {m: i for i, m in enumerate(PUBLISHED_NAME)}
    keys = sorted({(k[0], k[1]) for k in cells})
    for seq, h in keys:
        label = f"{seq} ({names.get(seq, published_sequence(seq))})"
        ref = refs.get(seq, {})
        print(f"| {label} | {h} | *previous image* | - {_img(ref.get(('previous', h)))}|")
        print(f"| {label} | {h} | *LK-field bound* | - {_img(ref.get('bound'))}|")
        pub = PUBLISHED_BOUND.get(group)
        if pub:
            print(f"| {label} | {h} | *published LK-field bound ({group}"
                  f"{' mean' if group == 'OvGU' else ''})* | - | {pub['ssim_255']:.3f} | "
                  f"{pub['nrmse_frames']:.3f} | | {pub['pearson']:.3f} |")
        pubseq = names.get(seq, published_sequence(seq))
        for what in ("SnAp-1", "no pred."):
            pv = PUBLISHED_IMAGE.get((pubseq, what), {}).get(h)
            if pv:
                print(f"| {label} | {h} | *published {what}"
                      f"{' (look-ahead)' if what == 'SnAp-1' else ''}* | - | {pv[0]:.4f} | "
                      f"{pv[1]:.4f} | | {pv[2]:.4f} |")
        methods = sorted({k[2:] for k in cells if k[0] == seq and k[1] == h},
                         key=lambda mm: (order.get(mm[0], 99), mm[1]))
        for m, mode in methods:
            ms = cells[(seq, h, m, mode)]
            mean = {k: float(np.mean([x[k] for x in ms])) for k in ("ssim_255", "nrmse",
                                                                     "pearson")}
            if all("nrmse_frames" in x for x in ms):
                mean["nrmse_frames"] = float(np.mean([x["nrmse_frames"] for x in ms]))
            shown = mode if m not in MODE_FREE else ", ".join(modes)
            print(f"| {label} | {h} | {m} | {shown} {_img(mean)}|")
    print_target_table(cells, names)


def print_target_table(cells: dict[tuple, list[dict[str, float]]],
                       names: dict[str, str]) -> None:
    """The cine target of issue 15: SSIM of each method's predicted frames minus the published
    (look-ahead) SnAp-1 SSIM, per sequence, horizon and mode (met: difference >= 0 at the
    published four decimals), where a published number exists."""
    import numpy as np

    lines = []
    for (seq, h, m, mode), ms in sorted(cells.items()):
        pv = PUBLISHED_IMAGE.get((names.get(seq, published_sequence(seq)), "SnAp-1"), {}).get(h)
        if pv is None:
            continue
        ours = float(np.mean([x["ssim_255"] for x in ms]))
        diff = round(ours, 4) - pv[0]
        lines.append(f"| {seq} | {h} | {m} | {mode} | {ours:.4f} | {pv[0]:.4f} | "
                     f"{diff:+.4f} | {'yes' if diff >= -1e-9 else 'no'} |")
    if lines:
        print("\nTarget: SSIM >= published SnAp-1 (look-ahead) SSIM, per sequence and horizon")
        print("| sequence | h (frames) | method | mode | SSIM | published SnAp-1 | difference "
              "| met |")
        print("|---|---|---|---|---|---|---|---|")
        print("\n".join(lines))


def published_cine(data: Path) -> dict[tuple, float]:
    """``(sequence, region, method, horizon_steps) -> value`` from reference_results.csv."""
    out = {}
    path = data / "reference_results.csv"
    if path.is_file():
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh):
                out[(r["sequence"], r["region"], r["method"], int(r["horizon_steps"]))] = float(
                    r["value"])
    return out


def _pm(s: Any) -> str:
    return f"{s.mean:.3f}" + (f" ± {s.std:.3f}" if s.n > 1 else "")


def _children_cpu_s() -> float:
    """CPU time (s) of this process and its finished children (the joblib workers once shut
    down)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _shutdown_workers() -> None:
    """Stop the reusable joblib (loky) workers so that their CPU time is accounted."""
    try:
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
    except Exception:  # accounting only
        pass


def run_group(args: argparse.Namespace, group: str, specs: list[dict[str, Any]],
              methods: list[str], markers: bool) -> tuple[float, list[dict[str, Any]]]:
    """Run one dataset's protocol (mode-free methods in causal mode only, unless
    ``--all-modes``); return the wall time (s) and the stored rows."""
    out = args.out / group
    cache = args.cache or (args.out / "cache")
    both = [m for m in methods if m not in MODE_FREE or args.all_modes]
    once = [m for m in methods if m not in both]
    t0 = time.perf_counter()
    for ms, modes in ((both, args.modes), (once, ["causal"] if "causal" in args.modes
                                            else args.modes[:1])):
        if not ms:
            continue
        cfg = EvalConfig(
            sequences=specs, methods=ms, modes=modes,
            seeds=list(range(args.seeds)), horizons_steps=args.horizons,
            n_components=args.n_components or (
                ([1, 2, 3] if args.grid == "reduced" else [1, 2, 3, 4])
                if args.preset == "published" else None),
            grids=grids(group, ms, args.grid, markers), jobs=args.jobs, name=group,
            cache_dir=cache, rnn_backend=args.rnn_backend,
            # entries not overridden above: the declared (published) grids, or with
            # --preset default the affordable preset (n_components: sidecar's, else 3)
            grid=args.preset,
            grid_presets={m: "published" for m in grids(group, ms, args.grid, markers)}
            if args.preset == "default" else {})
        summ = run_evaluation(cfg, out, resume=True, progress=True)
        print(f"# {group} {ms} {modes}: {summ.total} jobs ({summ.computed} run now, "
              f"{summ.skipped} resumed, {summ.errors} errors)", flush=True)
    wall = time.perf_counter() - t0
    with ResultStore(out) as st:
        rows = [r for r in st.rows() if "error" not in r["result"]]
        bad = [r for r in st.rows() if "error" in r["result"]]
    for r in bad[:5]:
        print(f"# error: {r['spec'].get('method')} h={r['spec'].get('horizon_steps')}: "
              f"{r['result']['error']}")
    return wall, rows


def print_table(group: str, rows: list[dict[str, Any]], ref: dict[tuple, float],
                modes: list[str], markers: bool, names: dict[str, str] | None = None) -> None:
    """The geometric comparison of one dataset (ours vs published, whole image and ROI); for
    cine data it comes after the image-space table and is measured against our own LK fields.
    """
    cells: dict[tuple, list[dict[str, float]]] = defaultdict(list)
    for r in rows:
        s = r["spec"]
        cells[(s["sequence_name"], s["method"], s["mode"], s["horizon_steps"],
               s["horizon_s"])].append(r["result"]["metrics"])
    # mode-free methods run once: show their numbers under every requested mode
    for (seq, m, mode, h, hs), ms in list(cells.items()):
        if m in MODE_FREE:
            for other in modes:
                cells.setdefault((seq, m, "=" + other if other != mode else mode, h, hs), ms)
    if markers:
        print("| sequence | method | mode | mean nRMSE over horizons | published best avg |")
        print("|---|---|---|---|---|")
        agg: dict[tuple, list[float]] = defaultdict(list)
        for (seq, m, mode, _h, _hs), ms in cells.items():
            agg[(seq, m, mode)].append(spread([x["nrmse"] for x in ms]).mean)
        pub_m, pub_v = MARKER_PUBLISHED[group]
        for (seq, m, mode), v in sorted(agg.items()):
            pub = f"{pub_v} ({PUBLISHED_NAME[pub_m]}, 9 seq.)" if m == pub_m else ""
            print(f"| {seq} | {m} | {mode} | {sum(v) / len(v):.3f} | {pub} |")
        return
    print("\nMean DVF error (mm) vs our own LK fields (the published column: vs the reference "
          "implementation's fields; compare in ratio only)")
    print("| sequence | method | mode | h (frames) | h (s) | ours whole (mm) | published "
          "whole | ours/pub | ours ROI (mm) | published ROI | ours/pub |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    order = {m: i for i, m in enumerate(PUBLISHED_NAME)}
    for (seq, m, mode, h, hs), ms in sorted(
            cells.items(), key=lambda c: (c[0][0], order.get(c[0][1], 99), c[0][2].lstrip("="),
                                          c[0][3])):
        key = (names or {}).get(seq) or published_sequence(seq)
        pw = ref.get((key, "whole", PUBLISHED_NAME.get(m, m), h))
        pr = ref.get((key, "roi", PUBLISHED_NAME.get(m, m), h))
        w = spread([x["dvf_mean_mm"] for x in ms])
        roi = spread([x.get("dvf_roi_mean_mm", float("nan")) for x in ms])
        rw = "" if pw is None else f"{w.mean / pw:.2f}"
        rr = "" if pr is None else f"{roi.mean / pr:.2f}"
        print(f"| {seq} | {m} | {mode} | {h} | {hs:.4g} | {_pm(w)} | "
              f"{'' if pw is None else pw} | {rw} | {_pm(roi)} | {'' if pr is None else pr} "
              f"| {rr} |")


def print_costs(group: str, rows: list[dict[str, Any]], wall: float) -> None:
    """CPU time by method (sum of the jobs' worker CPU time) and grid size."""
    cpu: dict[str, float] = defaultdict(float)
    el: dict[str, float] = defaultdict(float)
    n: dict[str, int] = defaultdict(int)
    grid: dict[str, int] = {}
    for r in rows:
        m = r["spec"]["method"]
        cpu[m] += float(r["result"].get("cpu_s", float("nan")))
        el[m] += float(r.get("elapsed_s") or 0.0)
        n[m] += 1
        grid[m] = int(r["result"].get("grid_size", 0))
    print(f"\n{group}: wall {wall:.0f} s; per method: jobs, grid points per job (incl. "
          "n_components), CPU s (sum over jobs), job wall s (sum)")
    print("| method | jobs | grid points | CPU s | job wall s |")
    print("|---|---|---|---|---|")
    for m in sorted(cpu, key=lambda x: -cpu[x]):
        print(f"| {m} | {n[m]} | {grid[m]} | {cpu[m]:.0f} | {el[m]:.0f} |")
    print(f"| all | {sum(n.values())} | | {sum(cpu.values()):.0f} | {sum(el.values()):.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("paper-run"))
    ap.add_argument("--cache", type=Path, default=None,
                    help="registration / PCA cache folder (default OUT/cache)")
    ap.add_argument("--grid", choices=("reduced", "published", "full"), default="reduced")
    ap.add_argument("--methods", nargs="+", default=list(PUBLISHED_NAME))
    ap.add_argument("--modes", nargs="+", default=["causal", "reference"])
    ap.add_argument("--all-modes", action="store_true",
                    help="also run the mode-free methods (no prediction, linear, transformer) "
                         "in every mode instead of printing their causal run for both")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rnn-backend", choices=("loop", "batched"), default="loop",
                    help="RNN grids one forecaster at a time (loop; faster on the CPU with one "
                         "seed) or batched per (k, q)")
    ap.add_argument("--datasets", nargs="+", default=None,
                    help="subset of ETH OvGU 10hz (default: all found)")
    ap.add_argument("--horizons", type=int, nargs="+", default=None,
                    help="horizons in frames (default: the sidecar's)")
    ap.add_argument("--preset", choices=("published", "default"), default="published",
                    help="grid of the methods the --grid option does not set (RLS, aggregator, "
                         "snap1-hybrid, ...): their declared published grids with PCA sizes "
                         "1-4 searched on validation, or the affordable 'default' preset "
                         "(aggregator and snap1-hybrid: no search; PCA size: the sidecar's, "
                         "else 3)")
    ap.add_argument("--n-components", type=int, nargs="+", default=None,
                    help="PCA sizes searched on validation (cine), replacing the preset's")
    args = ap.parse_args()
    ref = published_cine(args.data)
    names = published_names(args.data)
    found = discover(args.data)
    t_all = time.perf_counter()
    print(f"# paper comparison: grid {args.grid}, seeds {args.seeds}, modes {args.modes}, "
          f"methods {args.methods}, jobs {args.jobs}, rnn backend {args.rnn_backend}, "
          f"{os.cpu_count()} CPU(s)")
    if args.grid == "published":
        print("# reduced from the published protocol:")
        for line in REDUCTIONS:
            print(f"#   - {line}")
    done: list[tuple[str, list[dict[str, Any]], float, bool]] = []
    for group, specs in sorted(found.items()):
        if args.datasets and group not in args.datasets:
            continue
        markers = group.endswith("hz")
        methods = [m for m in args.methods if not (markers and m == "transformer")]
        wall, rows = run_group(args, group, specs, methods, markers)
        done.append((group, rows, wall, markers))
    wall_all = time.perf_counter() - t_all
    _shutdown_workers()
    cpu_all = _children_cpu_s()
    for group, rows, wall, markers in done:
        print(f"\n## {group}: {len({r['spec']['sequence_name'] for r in rows})} sequence(s), "
              f"{len(rows)} jobs, {wall:.0f} s wall")
        print("(mode '=reference': a mode-free method's causal run, identical in reference mode)")
        if not markers:
            refs = {}
            horizons = sorted({int(r["spec"]["horizon_steps"]) for r in rows})
            for spec in found[group]:
                name, rr = reference_rows(spec, horizons, args.cache or (args.out / "cache"))
                refs[name] = rr
            print_image_table(rows, refs, names, args.modes, group)
        print_table(group, rows, ref, args.modes, markers, names)
        print_costs(group, rows, wall)
    print(f"\n# total: wall {wall_all:.0f} s ({wall_all / 60:.1f} min), CPU {cpu_all:.0f} s "
          f"(all processes; this process and its joblib workers), {os.cpu_count()} CPU(s)")


if __name__ == "__main__":
    main()
