"""SlicerCineTrack export: the transforms move the segmentation onto the moved target."""

from __future__ import annotations

import csv

import numpy as np
import SimpleITK as sitk

from motionpredict.target import move_mask, track_fields
from motionpredict.target.slicer import write_slicer_cinetrack


def test_translations_replay_the_moved_target(tmp_path) -> None:
    shape, sp = (40, 36), (2.0, 1.5)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    mask = ((yy - 20) / 6.0) ** 2 + ((xx - 18) / 5.0) ** 2 <= 1
    shifts = [(0, 0), (3, -2), (-1, 4)]  # rows, columns (px)
    fields = np.stack([np.broadcast_to(np.multiply(s, sp), (*shape, 2)) for s in shifts])
    predicted = fields.copy()
    predicted[:, ..., 0] += sp[0]  # predictions one row off
    track = track_fields(mask, predicted, fields, sp, targets=np.array([2, 3, 4]))
    frames = np.random.default_rng(0).random((5, *shape)).astype(np.float32)
    root = write_slicer_cinetrack(tmp_path / "sct", frames, sp, mask, track)

    images = sorted((root / "images").glob("*.mha"))
    assert [p.name for p in images] == ["00000.mha", "00001.mha", "00002.mha"]
    img = sitk.ReadImage(str(images[1]))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), frames[3])
    assert img.GetSpacing() == (1.5, 2.0)  # x = column, y = row
    seg = sitk.GetArrayFromImage(sitk.ReadImage(str(root / "segmentation.mha")))
    np.testing.assert_array_equal(seg, mask.astype(np.uint8))

    for name, extra_row in (("actual", 0), ("predicted", 1)):
        rows = list(csv.DictReader((root / f"transforms_{name}.csv").read_text().splitlines()))
        assert len(rows) == 3
        for (dr, dc), r in zip(shifts, rows, strict=True):
            x, y, z = float(r["X"]), float(r["Y"]), float(r["Z"])
            assert (x, y, z) == (dc * sp[1], (dr + extra_row) * sp[0], 0.0)
            # translating the segmentation by (X, Y) mm lands on the target moved by the field
            moved = np.roll(mask, (round(y / sp[0]), round(x / sp[1])), axis=(0, 1))
            field = np.broadcast_to(np.multiply((dr + extra_row, dc), sp), (*shape, 2))
            np.testing.assert_array_equal(moved, move_mask(mask, field, sp))
