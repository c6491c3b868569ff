"""Planted identifiers: every attribute of PS3.15's Basic Profile table and every date, time and
date-time pydicom's dictionary knows gets an identifying value in the source series; no exported
file (predicted DICOM series, via the API and via ``motionpredict predict --format dicom``) may
contain any of them."""

from __future__ import annotations

import pydicom
from io_helpers import cine, write_cine_folder
from pydicom.datadict import DicomDictionary, dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset

from motionpredict.cli.main import main
from motionpredict.io import write_dicom_series
from motionpredict.io.deidentify import BASIC_PROFILE

NAME = "PLANTEDNAME"
DATE = "19770523"  # never the epoch (2000-01-01) nor a date the exporter writes
TIME = "231459"
UID_ROOT = "1.2.826.0.1.424242."

#: Attributes the exporter writes itself (their planted value is replaced, not leaked).
_WRITTEN = {"SOPInstanceUID", "SeriesInstanceUID", "SOPClassUID", "DerivationDescription",
            "SeriesDescription", "SourceImageSequence"}


def _value(vr: str, n: int) -> object | None:
    if vr == "DA":
        return DATE
    if vr == "TM":
        return TIME + ".123456"
    if vr == "DT":
        return DATE + TIME
    if vr == "UI":
        return UID_ROOT + str(n)
    if vr == "PN":
        return NAME
    if vr in ("LO", "SH", "LT", "ST", "UT", "UC"):
        return NAME
    if vr == "SQ":
        item = Dataset()
        item.PatientName = NAME
        item.InstanceCreationDate = DATE
        item.ReferencedSOPInstanceUID = UID_ROOT + f"9{n}"
        return [item]
    return None  # numbers, codes, binary: not identifying by themselves


def plant(ds: Dataset) -> list[str]:
    """Give every Basic Profile attribute and every DA/TM/DT attribute an identifying value."""
    planted = []
    keywords = set(BASIC_PROFILE)
    for tag, entry in DicomDictionary.items():
        vr, keyword = entry[0], entry[4]
        if vr in ("DA", "TM", "DT") and keyword and "x" not in f"{tag:08x}":
            keywords.add(keyword)
    for n, kw in enumerate(sorted(keywords)):
        tag = tag_for_keyword(kw)
        if tag is None or tag >> 16 in (0x0000, 0x0002) or kw in _WRITTEN:
            continue
        vr = dictionary_VR(tag)
        value = _value(vr.split(" or ")[0], n)
        if value is None:
            continue
        ds.add_new(tag, vr.split(" or ")[0], value)
        planted.append(kw)
    ds.add_new(0x00291010, "LO", NAME)  # private
    return planted


def _source(folder):
    write_cine_folder(folder, 8)
    for f in folder.iterdir():
        ds = pydicom.dcmread(f)
        planted = plant(ds)
        ds.save_as(f)
    return planted


def _assert_clean(files):
    assert files
    for f in files:
        raw = f.read_bytes()
        for secret in (NAME, DATE, TIME, UID_ROOT):
            assert secret.encode() not in raw, f"{f.name} leaks {secret}"
        out = pydicom.dcmread(f)
        assert out.PatientIdentityRemoved == "YES"
        assert out.LongitudinalTemporalInformationModified == "MODIFIED"
        assert "InstanceCreationDate" not in out and "InstanceCreationTime" not in out
        assert str(out.AcquisitionDate).startswith("2000")  # timing kept, shifted to the epoch


def test_planted_identifiers_never_exported(tmp_path):
    planted = _source(tmp_path / "src")
    assert {"InstanceCreationDate", "InstanceCreationTime", "PatientBirthDate",
            "StudyDate", "SeriesTime", "PatientName"} <= set(planted)
    assert len(planted) > 300  # the whole table and every date/time of the dictionary
    files = write_dicom_series(cine(8), tmp_path / "out", description="pred",
                               source=tmp_path / "src")
    _assert_clean(files)


def test_planted_identifiers_never_exported_by_predict(tmp_path):
    _source(tmp_path / "src")
    rc = main(["predict", str(tmp_path / "src"), "--method", "no-prediction", "--horizon",
               "1steps", "--format", "dicom", "--out", str(tmp_path / "out"),
               "--train-frames", "3", "--n-components", "1", "--no-report",
               "--frame-period", "0.2"])  # the planted acquisition times are all equal
    assert rc == 0
    files = sorted((tmp_path / "out").rglob("*"))
    dicoms = [f for f in files if f.suffix == ".dcm"]
    _assert_clean(dicoms)
    for f in files:  # the CSV / JSON beside them too
        if f.is_file():
            raw = f.read_bytes()
            assert NAME.encode() not in raw and DATE.encode() not in raw, f.name
    assert len(dicoms) >= 1
