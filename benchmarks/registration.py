"""Benchmark: registration speed and accuracy (2D cine, 3D phases, real reference data).

Targets: our 2D Lucas-Kanade with the reference parameters <= 10 ms per 270 x 270 frame on 2 CPU
cores; a 3D phase of ~120 x 120 x 100 voxels in < 1 s.

Tables (ratios against our NumPy Lucas-Kanade of the same run):

1. ms per 270 x 270 frame (ETH eth-1 frames when ``../shared/data`` exists, else a synthetic
   texture): our LK (NumPy, torch CPU), scikit-image ``optical_flow_ilk``, OpenCV DIS (presets),
   Farneback, SimpleITK demons;
2. end-point error (px and mm) of every method on the breathing phantom (exact fields), inside
   the body and inside its textured part;
3. seconds per 3D phase (100 x 120 x 120 synthetic, and ct4d-117 when present): LK NumPy, torch,
   demons;
4. with the reference data: correlation of our PCA weights with the reference implementation's
   (``reference_pca_weights.mat``), and image metrics of "frame 1 forward-warped by the LK field"
   over the test frames of eth-1 and ovgu-ks81 against the published upper bounds.

Run: ``python benchmarks/registration.py [--frames N] [--skip-real]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from skimage.registration import optical_flow_ilk

from motionpredict.evaluation.metrics import image_metrics
from motionpredict.registration import (
    DemonsRegistrar,
    DISRegistrar,
    FarnebackRegistrar,
    LKParams,
    LucasKanade,
    register_sequence,
    roi_from_bounds,
    warp_forward,
)

DATA = Path(os.environ.get("MOTIONPREDICT_SHARED_DATA",
                           Path(__file__).resolve().parents[1].parent / "shared" / "data"))
ETH_PARAMS = LKParams(sigma_init=0.1, sigma_subsample=0.1, sigma_lk=2.0, levels=2, iterations=1)
PUBLISHED = {  # upper bounds of "warp frame 1 by the LK field", test frames, whole image
    "eth-1": {"nrmse": 0.159, "ssim_255": 0.918, "pearson": 0.991},
    "ovgu-ks81": {"nrmse": 0.253, "ssim_255": 0.753, "pearson": 0.966},
}


class _Ilk:
    """scikit-image iterative LK (test oracle) behind the registrar interface."""

    def __init__(self, reference: np.ndarray) -> None:
        self.reference = reference

    def register(self, moving: np.ndarray, init: object = None) -> np.ndarray:
        return optical_flow_ilk(self.reference, moving, radius=7, num_warp=10, prefilter=False)


def _ms_per_frame(make: Callable[[], object], frames: np.ndarray) -> float:
    reg = make()
    reg.register(frames[0])  # warm-up (torch kernels, OpenCV buffers)
    t0 = time.perf_counter()
    for f in frames:
        reg.register(f)
    return 1e3 * (time.perf_counter() - t0) / len(frames)


def _texture(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    return (ndimage.gaussian_filter(rng.random(shape), 3.0) * 2000).astype(np.float32)


def table_2d(n_frames: int) -> None:
    if (DATA / "cine_mri" / "eth-1").is_dir():
        from motionpredict.io import load

        seq = load(DATA / "cine_mri" / "eth-1", frame_period_s=0.314, spacing_mm=1.0)
        ref, frames, what = seq.frames[0], seq.frames[180:180 + n_frames], "ETH eth-1"
    else:
        from scipy import ndimage

        ref = _texture((270, 270))
        frames = np.stack([ndimage.shift(ref, (0.3 * k, -0.2 * k), order=1)
                           for k in range(n_frames)])
        what = "synthetic texture"
    rows = [
        ("LK numpy (reference params)", lambda: LucasKanade(ref, ETH_PARAMS)),
        ("LK torch CPU (reference params)",
         lambda: LucasKanade(ref, ETH_PARAMS, backend="torch", device="cpu")),
        ("LK torch CPU 1 thread (ref. params)",
         lambda: LucasKanade(ref, ETH_PARAMS, backend="torch", device="cpu")),
        ("LK numpy (defaults)", lambda: LucasKanade(ref, LKParams())),
        ("skimage optical_flow_ilk (r=7)", lambda: _Ilk(ref)),
        ("OpenCV DIS ultrafast", lambda: DISRegistrar(ref, "ultrafast")),
        ("OpenCV DIS medium", lambda: DISRegistrar(ref, "medium")),
        ("OpenCV Farneback", lambda: FarnebackRegistrar(ref)),
        ("SimpleITK demons (50 it)", lambda: DemonsRegistrar(ref)),
    ]
    print(f"\n2D registration, {what}, {ref.shape[0]} x {ref.shape[1]}, {len(frames)} frames "
          f"(5 for skimage and demons), load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores")
    print(f"{'method':36s} {'ms/frame':>10s} {'ratio':>8s}")
    import torch

    base = None
    threads = torch.get_num_threads()
    for name, make in rows:
        sub = frames if "demons" not in name and "skimage" not in name else frames[:5]
        torch.set_num_threads(1 if "1 thread" in name else threads)
        ms = _ms_per_frame(make, sub)
        torch.set_num_threads(threads)
        base = base or ms
        print(f"{name:36s} {ms:10.2f} {ms / base:8.2f}")


def table_phantom() -> None:
    from scipy import ndimage

    from motionpredict.phantom import make_cine

    ph = make_cine(seed=0, n_frames=12)
    seq = ph.sequence
    truth = ph.true_fields.fields
    ref = seq.frames[0]
    body = ref > 0.1 * ref.max()
    gr, gc = np.gradient(ndimage.gaussian_filter(ref.astype(np.float64), 0.5))
    a, b, c = (ndimage.gaussian_filter(x, 2.0) for x in (gr * gr, gr * gc, gc * gc))
    tr = a + c
    textured = body & (tr / 2 - np.sqrt(np.maximum(tr**2 / 4 - (a * c - b * b), 0))
                       >= 0.1 * tr.mean() / 2)
    size = np.sqrt((truth**2).sum(-1))
    px = float(np.mean(seq.spacing))
    print(f"\nPhantom cine {seq.shape}, spacing {seq.spacing} mm, 11 frames, max displacement "
          f"{size.max() / px:.1f} px; EPE = mean |u - u_true| (body / textured part of the body)")
    print(f"{'method':32s} {'body px':>9s} {'body mm':>9s} {'text px':>9s} {'<=4.5px body':>13s}"
          f" {'ms/frame':>9s}")
    small = [k for k in range(1, seq.n_frames) if size[k][body].max() <= 4.6 * px]
    for name, kw in [("LK numpy (defaults)", {"params": LKParams()}),
                     ("LK numpy (3 levels)", {"params": LKParams(levels=3)}),
                     ("LK numpy (no fill-in)", {"params": LKParams(fill_sigma=0.0)}),
                     ("LK torch (defaults)", {"params": LKParams(), "backend": "torch",
                                              "device": "cpu"}),
                     ("DIS medium", {"method": "dis"}), ("Farneback", {"method": "farneback"}),
                     ("demons", {"method": "demons"})]:
        t0 = time.perf_counter()
        fields = register_sequence(seq, **kw)
        ms = 1e3 * (time.perf_counter() - t0) / (seq.n_frames - 1)
        err = np.sqrt(((fields.fields - truth) ** 2).sum(-1))[1:]
        eb = float(np.mean([e[body].mean() for e in err]))
        et = float(np.mean([e[textured].mean() for e in err]))
        es = float(np.mean([err[k - 1][body].mean() for k in small]))
        print(f"{name:32s} {eb / px:9.3f} {eb:9.3f} {et / px:9.3f} {es / px:13.3f} {ms:9.1f}")


def table_3d() -> None:
    from scipy import ndimage

    vol = _texture((100, 120, 120), seed=3)
    moving = ndimage.shift(vol, (1.2, -2.5, 0.8), order=1, mode="nearest")
    cases = [("synthetic 100x120x120", vol, moving)]
    if (DATA / "ct4d" / "ct4d-117").is_dir():
        from motionpredict.io import load

        ct = load(DATA / "ct4d" / "ct4d-117", spacing_mm=1.0, frame_period_s=1.0)
        cases.append((f"ct4d-117 {'x'.join(map(str, ct.shape))} (phase 1 -> 6)",
                      ct.frames[0], ct.frames[5]))
    params = LKParams(sigma_init=0.2, sigma_subsample=0.2, sigma_lk=2.0, levels=3, iterations=3)
    print("\n3D registration, one phase (s), ct4d reference parameters (3 levels x 3 iterations)")
    print(f"{'volume':34s} {'method':22s} {'setup s':>8s} {'phase s':>8s} {'ratio':>7s}")
    for what, ref, mov in cases:
        base = None
        for name, make in [("LK numpy", lambda r=ref: LucasKanade(r, params)),
                           ("LK torch CPU",
                            lambda r=ref: LucasKanade(r, params, backend="torch", device="cpu")),
                           ("demons (50 it)", lambda r=ref: DemonsRegistrar(r))]:
            t0 = time.perf_counter()
            reg = make()
            t1 = time.perf_counter()
            reg.register(mov)
            t2 = time.perf_counter()
            base = base or (t2 - t1)
            print(f"{what:34s} {name:22s} {t1 - t0:8.3f} {t2 - t1:8.3f} {(t2 - t1) / base:7.2f}")


def table_real() -> None:
    from motionpredict.io import load

    print("\nReference data: frame 1 forward-warped (Gaussian splat, sigma 0.5 px) by the LK field,"
          " test frames, against the acquired frames (SSIM data range 255)")
    print(f"{'sequence':10s} {'params':22s} {'region':6s} {'nRMSE':>7s} {'SSIM':>7s} "
          f"{'Pearson':>8s}   published whole (nRMSE/SSIM/Pearson)  ms/frame")
    for name, kw in [("eth-1", {"frame_period_s": 0.314, "spacing_mm": 1.0}), ("ovgu-ks81", {})]:
        folder = DATA / "cine_mri" / name
        meta = json.loads((folder / "sequence.json").read_text())
        seq = load(folder, **kw)
        first, last = meta["splits"]["online_methods"]["test"]
        test = list(range(first - 1, last))
        roi = meta["roi"]
        mask = roi_from_bounds([tuple(roi["y"]), tuple(roi["x"])], seq.shape)
        for label, params in [
            ("reference", LKParams.from_mapping(meta["reference_lk_parameters"])),
            ("reference + floor/fill", LKParams.from_mapping(meta["reference_lk_parameters"],
                                                             min_eigenvalue=0.1, fill_sigma=4.0)),
            ("defaults", LKParams()),
        ]:
            lk = LucasKanade(seq.frames[0], params)
            t0 = time.perf_counter()
            flows = [lk.register(seq.frames[t]) for t in test]
            ms = 1e3 * (time.perf_counter() - t0) / len(test)
            pred = np.stack([warp_forward(seq.frames[0], f) for f in flows])
            pub = PUBLISHED[name]
            for region, m in [("whole", None), ("ROI", mask)]:
                r = image_metrics(pred, seq.frames[test], true_range=255.0, mask=m)
                tail = (f"   {pub['nrmse']:.3f} / {pub['ssim_255']:.3f} / {pub['pearson']:.3f}"
                        f"              {ms:6.1f}" if region == "whole" else "")
                print(f"{name:10s} {label:22s} {region:6s} {r['nrmse']:7.3f} {r['ssim_255']:7.3f}"
                      f" {r['pearson']:8.4f}{tail}")


def pca_weights(flows: np.ndarray, n_train: int, n: int = 3) -> np.ndarray:
    """First ``n`` PCA weights ``(n, T)`` of flows ``(T, ndim, *shape)`` (px), the PCA fitted on
    the first ``n_train`` frames (centred on their mean), components interleaved x, y per pixel
    as in the reference implementation."""
    x = np.moveaxis(flows, 1, -1)[..., ::-1].reshape(flows.shape[0], -1).astype(np.float64)
    mean = x[:n_train].mean(0)
    centred = x[:n_train] - mean
    lam, vec = np.linalg.eigh(centred @ centred.T)  # Gram matrix, as the reference does
    components = centred.T @ vec[:, ::-1][:, :n] / np.sqrt(lam[::-1][:n])
    return ((x - mean) @ components).T


def table_pca() -> None:
    from scipy.io import loadmat

    from motionpredict.io import load

    print("\nReproduction of the reference fields: |Pearson| between our first 3 PCA weights "
          "(PCA on the training frames) and reference_pca_weights.mat; std ratio ours / reference")
    print(f"{'sequence':10s} {'|r| w1':>7s} {'|r| w2':>7s} {'|r| w3':>7s} {'std ratio':>24s}")
    for name, kw in [("eth-1", {"frame_period_s": 0.314, "spacing_mm": 1.0}), ("ovgu-ks81", {})]:
        folder = DATA / "cine_mri" / name
        meta = json.loads((folder / "sequence.json").read_text())
        seq = load(folder, **kw)
        ref_w = loadmat(folder / "reference_pca_weights.mat")["org_data"]
        lk = LucasKanade(seq.frames[0], LKParams.from_mapping(meta["reference_lk_parameters"]))
        flows = np.stack([lk.register(f) for f in seq.frames])
        w = pca_weights(flows, meta["splits"]["online_methods"]["train"][1])
        r = [abs(np.corrcoef(w[k], ref_w[k])[0, 1]) for k in range(3)]
        ratio = " ".join(f"{w[k].std() / ref_w[k].std():.2f}" for k in range(3))
        print(f"{name:10s} {r[0]:7.3f} {r[1]:7.3f} {r[2]:7.3f} {ratio:>24s}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=20, help="2D frames to time")
    parser.add_argument("--skip-real", action="store_true", help="skip the reference-data table")
    args = parser.parse_args()
    table_2d(args.frames)
    table_phantom()
    table_3d()
    if not args.skip_real and (DATA / "cine_mri" / "eth-1").is_dir():
        table_pca()
        table_real()


if __name__ == "__main__":
    main()
