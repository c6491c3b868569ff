"""PS3.15 Annex E Basic Profile: every exported file is scanned for every profile attribute."""

from __future__ import annotations

import numpy as np
import pydicom
from io_helpers import cine, write_frame
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset

from motionpredict.io import write_dicom_series
from motionpredict.io.deidentify import BASIC_PROFILE, TIMING_ATTRIBUTES

SECRET = "SECRET7"


def _fill(ds: Dataset) -> dict[str, object]:
    """Give every profile attribute an identifying value; return what was set."""
    values: dict[str, object] = {}
    for kw in BASIC_PROFILE:
        tag = tag_for_keyword(kw)
        if tag >> 16 in (0x0000, 0x0002):  # command / file-meta groups: not in a data set
            continue
        vr = dictionary_VR(tag)
        if vr == "SQ":
            item = Dataset()
            item.PatientName = SECRET
            v: object = [item]
        elif vr == "UI":
            v = "1.2.826.0.1.7777." + str(len(values))
        elif vr in ("DA",):
            v = "19700707"
        elif vr in ("TM",):
            v = "070707"
        elif vr == "DT":
            v = "19700707070707"
        elif vr in ("US", "SS", "UL", "SL", "FL", "FD"):
            continue
        elif vr in ("IS",):
            v = "7777"
        elif vr in ("DS",):
            v = "77.7"
        elif vr in ("OB", "OW", "UN", "OF", "OD", "OL", "OV"):
            v = SECRET.encode() + b"\0"
        elif vr == "AS":
            v = "077Y"
        elif vr == "CS":
            v = "SECRET"
        else:
            v = SECRET
        setattr(ds, kw, v)
        values[kw] = v
    return values


def test_every_exported_file_is_clean(tmp_path):
    src_dir = tmp_path / "src"
    src_dir.mkdir()
    ds_path = write_frame(src_dir / "a.dcm", np.zeros((12, 10)), PixelSpacing=[1.5, 2.0])
    ds = pydicom.dcmread(ds_path)
    values = _fill(ds)
    ds.add_new(0x00291010, "LO", SECRET)  # private
    ds.save_as(ds_path)
    files = write_dicom_series(cine(), tmp_path / "out", description="pred", source=src_dir)
    assert files
    for f in files:
        raw = f.read_bytes()
        assert SECRET.encode() not in raw, f"{f.name} leaks an identifying value"
        out = pydicom.dcmread(f)
        assert out.PatientIdentityRemoved == "YES"
        for kw, action in BASIC_PROFILE.items():
            if kw not in values or kw in (
                "DerivationDescription",
                "SourceImageSequence",
                "SeriesDescription",
            ):
                continue
            present = kw in out
            if kw in TIMING_ATTRIBUTES:
                if present and out[kw].value:
                    assert str(out[kw].value) != str(values[kw]), kw  # shifted to the epoch
                    if "Date" in kw:
                        assert str(out[kw].value).startswith("2000"), kw
                continue
            if action == "X":
                assert not present, f"{kw} must be removed"
            elif action == "Z":
                assert not present or not out[kw].value, f"{kw} must be empty"
            elif action == "U" and present:
                assert out[kw].value != values[kw], f"{kw} must be a new UID"
        assert not any(e.tag.is_private for e in out)


def test_uids_remapped_consistently_and_kept_on_request(tmp_path):
    src = tmp_path / "s"
    src.mkdir()
    write_frame(
        src / "a.dcm",
        np.zeros((12, 10)),
        PixelSpacing=[1.5, 2.0],
        PatientName="Doe^Jane",
        FrameOfReferenceUID="1.2.826.0.1.99",
    )
    files = write_dicom_series(cine(), tmp_path / "o", description="pred", source=src)
    outs = [pydicom.dcmread(f) for f in files]
    assert len({o.StudyInstanceUID for o in outs}) == 1 and outs[0].StudyInstanceUID != "1.2.3"
    assert len({o.FrameOfReferenceUID for o in outs}) == 1
    assert outs[0].FrameOfReferenceUID != "1.2.826.0.1.99"
    assert outs[0].PatientName == ""
    kept = write_dicom_series(
        cine(), tmp_path / "k", description="pred", source=src, keep_identifiers=True
    )
    k0 = pydicom.dcmread(kept[0])
    assert k0.PatientName == "Doe^Jane" and k0.StudyInstanceUID == "1.2.3"
