"""De-identification of exported DICOM: PS3.15 Annex E, Basic Application Level Confidentiality
Profile (Table E.1-1), with the *Retain Longitudinal Temporal Information with Modified Dates*
option for the dates and times that carry frame timing.

Reference: DICOM PS3.15 "Security and System Management Profiles", Annex E "Attribute
Confidentiality Profiles", Table E.1-1 "Application Level Confidentiality Profile Attributes"
(column "Basic Prof."). :data:`BASIC_PROFILE` lists the attributes of that table with their action
code; it is the single list both the exporter and the tests use.

Action codes (PS3.15 E.3.1): ``X`` remove, ``Z`` replace by a zero-length value, ``D`` replace by a
dummy value, ``U`` replace a UID by another one, consistently within the export. Compound codes of
the standard (``X/Z``, ``Z/D``, ``X/Z/D``, ``X/D``, ``X/Z/U*``) are applied here in their most
removing form (``X`` or ``Z``). Dates and times are shifted to a fixed epoch (modified dates
option) so that frame timing survives; every other date, time and date-time (any DA, TM or DT
attribute, listed in the table or not, at any depth: InstanceCreationDate, SeriesTime, ...) is
removed, and every person name (PN) the table does not list is emptied. Private attributes are
removed.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

__all__ = ["BASIC_PROFILE", "TIMING_ATTRIBUTES", "UIDMapper", "deidentify"]

#: Table E.1-1, Basic Profile column: keyword -> action (X, Z, D, U).
BASIC_PROFILE: dict[str, str] = {
    "AccessionNumber": "Z",
    "AcquisitionComments": "X",
    "AcquisitionContextSequence": "X",
    "AcquisitionDate": "Z",
    "AcquisitionDateTime": "X",
    "AcquisitionDeviceProcessingDescription": "X",
    "AcquisitionProtocolDescription": "X",
    "AcquisitionTime": "Z",
    "ActualHumanPerformersSequence": "X",
    "AdditionalPatientHistory": "X",
    "AdmissionID": "X",
    "AdmittingDate": "X",
    "AdmittingDiagnosesCodeSequence": "X",
    "AdmittingDiagnosesDescription": "X",
    "AdmittingTime": "X",
    "AffectedSOPInstanceUID": "X",
    "Allergies": "X",
    "AuthorObserverSequence": "X",
    "BranchOfService": "X",
    "CassetteID": "X",
    "CommentsOnThePerformedProcedureStep": "X",
    "ConcatenationUID": "U",
    "ConfidentialityConstraintOnPatientDataDescription": "X",
    "ContentCreatorName": "Z",
    "ContentCreatorIdentificationCodeSequence": "X",
    "ContentDate": "Z",
    "ContentSequence": "X",
    "ContentTime": "Z",
    "ContextGroupExtensionCreatorUID": "U",
    "ContrastBolusAgent": "Z",
    "ContributionDescription": "X",
    "CountryOfResidence": "X",
    "CreatorVersionUID": "U",
    "CurrentPatientLocation": "X",
    "CustodialOrganizationSequence": "X",
    "DataSetTrailingPadding": "X",
    "DerivationDescription": "X",
    "DetectorID": "X",
    "DeviceSerialNumber": "X",
    "DeviceUID": "U",
    "DigitalSignatureUID": "X",
    "DigitalSignaturesSequence": "X",
    "DimensionOrganizationUID": "U",
    "DischargeDiagnosisDescription": "X",
    "DistributionAddress": "X",
    "DistributionName": "X",
    "DoseReferenceUID": "U",
    "EthnicGroup": "X",
    "FailedSOPInstanceUIDList": "U",
    "FiducialUID": "U",
    "FillerOrderNumberImagingServiceRequest": "Z",
    "FrameComments": "X",
    "FrameOfReferenceUID": "U",
    "GantryID": "X",
    "GeneratorID": "X",
    "GraphicAnnotationSequence": "X",
    "HumanPerformerName": "X",
    "HumanPerformerOrganization": "X",
    "IconImageSequence": "X",
    "IdentifyingComments": "X",
    "ImageComments": "X",
    "ImagePresentationComments": "X",
    "ImagingServiceRequestComments": "X",
    "Impressions": "X",
    "InstanceCreatorUID": "U",
    "InstitutionAddress": "X",
    "InstitutionCodeSequence": "X",
    "InstitutionName": "X",
    "InstitutionalDepartmentName": "X",
    "InsurancePlanIdentification": "X",
    "IntendedRecipientsOfResultsIdentificationSequence": "X",
    "InterpretationApproverSequence": "X",
    "InterpretationAuthor": "X",
    "InterpretationDiagnosisDescription": "X",
    "InterpretationIDIssuer": "X",
    "InterpretationRecorder": "X",
    "InterpretationText": "X",
    "InterpretationTranscriber": "X",
    "IrradiationEventUID": "U",
    "IssuerOfAdmissionID": "X",
    "IssuerOfPatientID": "X",
    "IssuerOfServiceEpisodeID": "X",
    "LargePaletteColorLookupTableUID": "U",
    "MAC": "X",
    "MediaStorageSOPInstanceUID": "U",
    "MedicalAlerts": "X",
    "MedicalRecordLocator": "X",
    "MilitaryRank": "X",
    "ModifiedAttributesSequence": "X",
    "ModifiedImageDescription": "X",
    "ModifyingDeviceID": "X",
    "ModifyingDeviceManufacturer": "X",
    "NameOfPhysiciansReadingStudy": "X",
    "NamesOfIntendedRecipientsOfResults": "X",
    "Occupation": "X",
    "OperatorIdentificationSequence": "X",
    "OperatorsName": "X",
    "OrderCallbackPhoneNumber": "X",
    "OrderEnteredBy": "X",
    "OrderEntererLocation": "X",
    "OriginalAttributesSequence": "X",
    "OtherPatientIDs": "X",
    "OtherPatientIDsSequence": "X",
    "OtherPatientNames": "X",
    "ParticipantSequence": "X",
    "PatientAddress": "X",
    "PatientAge": "X",
    "PatientBirthDate": "Z",
    "PatientBirthName": "X",
    "PatientBirthTime": "X",
    "PatientComments": "X",
    "PatientID": "Z",
    "PatientInstitutionResidence": "X",
    "PatientInsurancePlanCodeSequence": "X",
    "PatientMotherBirthName": "X",
    "PatientName": "Z",
    "PatientPrimaryLanguageCodeSequence": "X",
    "PatientPrimaryLanguageModifierCodeSequence": "X",
    "PatientReligiousPreference": "X",
    "PatientSex": "Z",
    "PatientSexNeutered": "X",
    "PatientSize": "X",
    "PatientState": "X",
    "PatientTelephoneNumbers": "X",
    "PatientTransportArrangements": "X",
    "PatientWeight": "X",
    "PerformedLocation": "X",
    "PerformedProcedureStepDescription": "X",
    "PerformedProcedureStepEndDate": "X",
    "PerformedProcedureStepEndTime": "X",
    "PerformedProcedureStepID": "X",
    "PerformedProcedureStepStartDate": "X",
    "PerformedProcedureStepStartTime": "X",
    "PerformedStationAETitle": "X",
    "PerformedStationGeographicLocationCodeSequence": "X",
    "PerformedStationName": "X",
    "PerformedStationNameCodeSequence": "X",
    "PerformingPhysicianIdentificationSequence": "X",
    "PerformingPhysicianName": "X",
    "PersonAddress": "X",
    "PersonIdentificationCodeSequence": "X",
    "PersonName": "X",
    "PersonTelephoneNumbers": "X",
    "PhysicianApprovingInterpretation": "X",
    "PhysiciansOfRecord": "X",
    "PhysiciansOfRecordIdentificationSequence": "X",
    "PhysiciansReadingStudyIdentificationSequence": "X",
    "PlacerOrderNumberImagingServiceRequest": "Z",
    "PlateID": "X",
    "PreMedication": "X",
    "PregnancyStatus": "X",
    "ProtocolName": "X",
    "ReasonForStudy": "X",
    "ReasonForTheRequestedProcedure": "X",
    "ReferencedDigitalSignatureSequence": "X",
    "ReferencedFrameOfReferenceUID": "U",
    "ReferencedImageSequence": "X",
    "ReferencedPatientAliasSequence": "X",
    "ReferencedPatientSequence": "X",
    "ReferencedPerformedProcedureStepSequence": "X",
    "ReferencedSOPInstanceMACSequence": "X",
    "ReferencedSOPInstanceUID": "U",
    "ReferencedSOPInstanceUIDInFile": "U",
    "ReferencedStudySequence": "X",
    "ReferringPhysicianAddress": "X",
    "ReferringPhysicianIdentificationSequence": "X",
    "ReferringPhysicianName": "Z",
    "ReferringPhysicianTelephoneNumbers": "X",
    "RegionOfResidence": "X",
    "RelatedFrameOfReferenceUID": "U",
    "RequestAttributesSequence": "X",
    "RequestedContrastAgent": "X",
    "RequestedProcedureComments": "X",
    "RequestedProcedureDescription": "X",
    "RequestedProcedureID": "X",
    "RequestedProcedureLocation": "X",
    "RequestedSOPInstanceUID": "U",
    "RequestingPhysician": "X",
    "RequestingService": "X",
    "ResponsibleOrganization": "X",
    "ResponsiblePerson": "X",
    "ResultsComments": "X",
    "ResultsDistributionListSequence": "X",
    "ResultsIDIssuer": "X",
    "ReviewerName": "X",
    "ScheduledHumanPerformersSequence": "X",
    "ScheduledPatientInstitutionResidence": "X",
    "ScheduledPerformingPhysicianIdentificationSequence": "X",
    "ScheduledPerformingPhysicianName": "X",
    "ScheduledProcedureStepDescription": "X",
    "ScheduledProcedureStepEndDate": "X",
    "ScheduledProcedureStepEndTime": "X",
    "ScheduledProcedureStepLocation": "X",
    "ScheduledProcedureStepStartDate": "X",
    "ScheduledProcedureStepStartTime": "X",
    "ScheduledStationAETitle": "X",
    "ScheduledStationGeographicLocationCodeSequence": "X",
    "ScheduledStationName": "X",
    "ScheduledStationNameCodeSequence": "X",
    "ScheduledStudyLocation": "X",
    "ScheduledStudyLocationAETitle": "X",
    "SeriesDate": "X",
    "SeriesDescription": "X",
    "SeriesInstanceUID": "U",
    "SeriesTime": "X",
    "ServiceEpisodeDescription": "X",
    "ServiceEpisodeID": "X",
    "SmokingStatus": "X",
    "SOPInstanceUID": "U",
    "SourceImageSequence": "X",
    "SpecialNeeds": "X",
    "StationName": "X",
    "StorageMediaFileSetUID": "U",
    "StudyComments": "X",
    "StudyDate": "Z",
    "StudyDescription": "X",
    "StudyID": "Z",
    "StudyIDIssuer": "X",
    "StudyInstanceUID": "U",
    "StudyTime": "Z",
    "SynchronizationFrameOfReferenceUID": "U",
    "TemplateExtensionCreatorUID": "U",
    "TemplateExtensionOrganizationUID": "U",
    "TextComments": "X",
    "TextString": "X",
    "TimezoneOffsetFromUTC": "X",
    "TopicAuthor": "X",
    "TopicKeywords": "X",
    "TopicSubject": "X",
    "TopicTitle": "X",
    "TransactionUID": "U",
    "UID": "U",
    "VerifyingObserverIdentificationCodeSequence": "Z",
    "VerifyingObserverName": "X",
    "VerifyingObserverSequence": "X",
    "VerifyingOrganization": "X",
    "VisitComments": "X",
}

#: Dates / times kept, shifted to :data:`EPOCH`, because they carry the frame timing
#: (PS3.15 E.3.6, Retain Longitudinal Temporal Information with Modified Dates Option).
TIMING_ATTRIBUTES = ("AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime", "ContentDate")

#: Date every exported acquisition is moved to (day 0 of the export).
EPOCH = _dt.date(2000, 1, 1)

#: Attributes the exporter writes itself and which the profile would otherwise strip.
_EXPORT_OWNED = {"DerivationDescription", "SourceImageSequence", "SeriesDescription"}


@dataclass
class UIDMapper:
    """Replace UIDs consistently: the same input UID always maps to the same new UID.

    Parameters
    ----------
    salt
        Secret mixed into the new UIDs (random per export by default) so that they cannot be
        recomputed from the originals.
    """

    salt: str = field(default_factory=lambda: generate_uid())
    mapping: dict[str, str] = field(default_factory=dict)

    def __call__(self, uid: str) -> str:
        """Return the replacement of ``uid``."""
        uid = str(uid)
        if uid not in self.mapping:
            self.mapping[uid] = generate_uid(entropy_srcs=[self.salt, uid])
        return self.mapping[uid]


def deidentify(ds: Dataset, uids: UIDMapper, *, keep: set[str] | None = None) -> Dataset:
    """Apply the Basic Profile to ``ds`` in place (recursing into sequences) and mark it.

    Parameters
    ----------
    ds
        Dataset to clean.
    uids
        Consistent UID replacement for ``U`` attributes.
    keep
        Keywords written by the exporter itself (derivation description, source reference,
        series description) that must survive; the defaults are the exporter's own attributes.

    Returns
    -------
    Dataset
        ``ds`` itself, with PatientIdentityRemoved = YES and DeidentificationMethod set.
    """
    keep = _EXPORT_OWNED if keep is None else keep
    _clean(ds, uids, keep, top=True)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "PS3.15 E.1 Basic Profile, Modified Dates (motionpredict)"
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    code2 = Dataset()
    code2.CodeValue = "113107"
    code2.CodingSchemeDesignator = "DCM"
    code2.CodeMeaning = "Retain Longitudinal Temporal Information Modified Dates Option"
    ds.DeidentificationMethodCodeSequence = [code, code2]
    ds.LongitudinalTemporalInformationModified = "MODIFIED"
    return ds


#: Value representations of dates and times.
_DATE_VRS = ("DA", "DT", "TM")

#: Repeating groups removed whole: curve data (50xx) and overlays (60xx: data, comments).
_REPEATING_GROUPS = ((0x5000, 0x50FF), (0x6000, 0x60FF))


def _clean(ds: Dataset, uids: UIDMapper, keep: set[str], *, top: bool) -> None:
    ds.remove_private_tags()
    for elem in list(ds):
        if any(lo <= elem.tag.group <= hi for lo, hi in _REPEATING_GROUPS):
            del ds[elem.tag]
            continue
        kw = elem.keyword
        if top and kw in keep:
            if elem.VR == "SQ":
                for item in elem.value:
                    _clean(item, uids, set(), top=False)
            continue
        if kw in TIMING_ATTRIBUTES and top:
            continue  # already shifted to EPOCH by the exporter
        action = BASIC_PROFILE.get(kw)
        if action == "X":
            del ds[elem.tag]
        elif action == "Z":
            elem.value = [] if elem.VR == "SQ" else ""
        elif action == "D":
            elem.value = "ANONYMIZED"
        elif action == "U":
            if elem.VM > 1:
                elem.value = [uids(v) for v in elem.value]
            elif elem.value:
                elem.value = uids(elem.value)
        elif elem.VR == "SQ":
            for item in elem.value:
                _clean(item, uids, set(), top=False)
        elif elem.VR in _DATE_VRS:
            # A date or time the table does not list (InstanceCreationDate, SeriesTime,
            # PerformedProcedureStepStartDate, ...): with the modified-dates option only the
            # timing the exporter rewrote from EPOCH survives; any other source date goes.
            del ds[elem.tag]
        elif elem.VR == "PN":
            elem.value = ""  # a person's name the table does not list
    fm = getattr(ds, "file_meta", None)
    if top and fm is not None and "MediaStorageSOPInstanceUID" in fm and "SOPInstanceUID" in ds:
        fm.MediaStorageSOPInstanceUID = ds.SOPInstanceUID


def profile_keywords() -> list[str]:
    """Keywords of :data:`BASIC_PROFILE` that pydicom's dictionary knows (all, normally)."""
    return [k for k in BASIC_PROFILE if pydicom.datadict.tag_for_keyword(k) is not None]
