"""Writes of the imaging app, one function each, audited in the same transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from checklist import audit, policies
from checklist.models import Case, User
from config.api_errors import ConflictError, field_error
from imaging import actions
from imaging.dicom import STATUS_STORE_FAILED, STATUS_UID_CONFLICT, UID_CONFLICT, CheckedImage, ImageRefused
from imaging.models import LevelImage, MatchedBy
from imaging.selectors import case_match
from imaging.store import ImageStore, ImageStoreError

logger = logging.getLogger(__name__)

ALREADY_MATCHED = "This image already belongs to a case."
STALE_IMAGE = "The image changed since you saw it; here is its current state."
OTHER_PATIENT = "The image's patient ID is not this case's patient: it cannot be assigned to this case."
STORE_FAILED = "The image could not be stored; nothing was kept."


@dataclass(frozen=True)
class Received:
    image: LevelImage
    duplicate: bool  # the same instance (same pixels) had been received before


def _summary(image: LevelImage) -> dict[str, object]:
    # UIDs and hashes only: never the patient's identifiers in the trail.
    return {
        "sop_instance_uid": image.sop_instance_uid,
        "series_instance_uid": image.series_instance_uid,
        "study_instance_uid": image.study_instance_uid,
        "frame": image.frame,
        "pixel_sha256": image.pixel_sha256,
        "acquired_at": image.acquired_at,
        "calling_ae_title": image.calling_ae_title,
        "matched_by": image.matched_by,
        "unmatched_reason": image.unmatched_reason,
    }


def _same_instance(checked: CheckedImage) -> LevelImage | None:
    existing = LevelImage.objects.filter(sop_instance_uid=checked.sop_instance_uid).first()
    if existing is None:
        return None
    if existing.pixel_sha256 != checked.pixel_sha256:
        raise ImageRefused(STATUS_UID_CONFLICT, UID_CONFLICT.format(uid=checked.sop_instance_uid))
    return existing


def level_image_receive(
    *,
    actor: User | None,
    checked: CheckedImage,
    data: bytes,
    calling_ae_title: str,
    room_name: str,
    store: ImageStore,
) -> Received:
    """Keep a checked image (``data``: its Part 10 file) and its record, matched to a case when
    one fits. The file is stored first and removed again if the record cannot be written, so a
    failure leaves neither. Receiving the same instance twice is not an error."""
    existing = _same_instance(checked)
    if existing is not None:
        return Received(existing, duplicate=True)
    match = case_match(
        accession_number=checked.accession_number,
        patient_id=checked.patient_id,
        acquired_at=checked.acquired_at,
        room_name=room_name,
    )
    try:
        ref = store.store(data)
    except (ImageStoreError, OSError) as exc:
        logger.error("imaging: store failed for %s: %s", checked.sop_instance_uid, exc)
        raise ImageRefused(STATUS_STORE_FAILED, STORE_FAILED) from exc
    try:
        with transaction.atomic():
            image = LevelImage(
                sop_instance_uid=checked.sop_instance_uid,
                series_instance_uid=checked.series_instance_uid,
                study_instance_uid=checked.study_instance_uid,
                sop_class_uid=checked.sop_class_uid,
                modality=checked.modality,
                frame=1,
                number_of_frames=checked.number_of_frames,
                rows=checked.rows,
                columns=checked.columns,
                pixel_sha256=checked.pixel_sha256,
                acquired_at=checked.acquired_at,
                accession_number=checked.accession_number,
                patient_id=checked.patient_id,
                calling_ae_title=calling_ae_title[:16],
                station_name=checked.station_name,
                storage_key=ref.key,
                received_at=timezone.now(),
                case=match.case,
                matched_by=match.matched_by,
                unmatched_reason=match.reason[:200],
            )
            image.full_clean(validate_unique=False)  # the unique index decides a race (below)
            image.save()
            audit.append(action=actions.IMAGE_RECEIVED, actor=actor, case=match.case, obj=image, after=_summary(image))
    except IntegrityError:
        # Another association stored the same instance a moment ago: same pixels is a duplicate
        # (and the file on disk is that one's, so it stays).
        existing = _same_instance(checked)
        if existing is not None:
            return Received(existing, duplicate=True)
        store.remove(ref)
        raise
    except BaseException:
        store.remove(ref)
        raise
    return Received(image, duplicate=False)


def level_image_assign(*, actor: User, image: LevelImage, case: Case, version: int) -> LevelImage:
    """A radiographer (or the nurse or surgeon) assigns an unmatched image to a case."""
    policies.require(actor, "localization.record", case)
    with transaction.atomic():
        current = LevelImage.objects.select_for_update().get(pk=image.pk)
        if current.version != version:
            raise ConflictError(STALE_IMAGE, extra={"image": {"id": current.pk, "version": current.version}})
        if current.case_id is not None:
            raise ConflictError(ALREADY_MATCHED, extra={"image": {"id": current.pk, "version": current.version}})
        if current.patient_id and current.patient_id != case.patient.mrn:
            raise field_error("case_id", OTHER_PATIENT)
        before = _summary(current)
        current.case = case
        current.matched_by = MatchedBy.ASSIGNED
        current.unmatched_reason = ""
        current.assigned_by = actor
        current.version += 1
        current.full_clean(validate_unique=False)
        current.save()
        audit.append(
            action=actions.IMAGE_ASSIGNED, actor=actor, case=case, obj=current, before=before, after=_summary(current)
        )
    return current
