"""Writes of the imaging app, one function each, audited in the same transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from pydicom import dcmread

from checklist import audit
from checklist import services as checklist_services
from checklist.access import policies
from checklist.level_check import anatomy_of, current_evidence
from checklist.models import Case, Reference, User
from checklist.services.case_writes import case_lock
from checklist.services.cases import case_state_commit
from core.errors import ApplicationError, ConflictError, field_error
from core.queue import task_named
from imaging import actions, sr
from imaging.dicom import STATUS_STORE_FAILED, STATUS_UID_CONFLICT, UID_CONFLICT, CheckedImage, ImageRefused
from imaging.models import ImageRead, LevelImage, MatchedBy, SecondRead
from imaging.selectors import accession_for, case_match, cases_awaiting_images, reads_compare, second_read_needed
from imaging.store import ImageStore, ImageStoreError, InstanceRef, image_store, ref_of
from levelverify.check import STRUCTURE_BY_PROCEDURE
from levelverify.spine import NotationError, format_unit, parse_unit

logger = logging.getLogger(__name__)

ALREADY_MATCHED = "This image already belongs to a case."
STALE_IMAGE = "The image changed since you saw it; here is its current state."
OTHER_PATIENT = "The image's patient ID is not this case's patient: it cannot be assigned to this case."
STORE_FAILED = "The image could not be stored; nothing was kept."
NOT_THIS_CASE = "This image does not belong to this case."
UNMATCHED = "This image is not assigned to a case yet: assign it first."
BEFORE_TIME_OUT = "This image was taken before the time-out was completed: take a new level image."
NO_ACQUISITION_TIME = "This image has no acquisition time, so it cannot be shown to be taken after the time-out."
ALREADY_READ = "This image was already used for a count: take a new level image to count again."
TAPS_SHAPE = "Tap the reference first, then each vertebra up to the marker: a list of [x, y] points, 2 to {most}."
TAP_OUTSIDE = "Tap {n} is outside the image ({columns} x {rows} pixels)."
MOST_TAPS = 40


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


# The calling AE title recorded for an image RightLevel found in the PACS (it did not receive it).
PACS_SOURCE = "DICOMWEB"
# What a C-arm acquires (the SR RightLevel stores back, and any other object, is not looked at).
LEVEL_IMAGE_MODALITIES = ("RF", "XA", "DX", "CR")


class _AlreadyInStore:
    """The PACS already holds an instance found there: ``level_image_receive`` neither stores it
    again nor removes it when the record cannot be written."""

    def __init__(self, store: ImageStore) -> None:
        self._store = store

    def store(self, data: bytes) -> InstanceRef:
        return ref_of(data)

    def find(self, **query: Any) -> list[InstanceRef]:
        return self._store.find(**query)

    def fetch(self, ref: InstanceRef) -> bytes:
        return self._store.fetch(ref)

    def remove(self, ref: InstanceRef) -> None:
        return None


# Instances the PACS poll refused, by SOP Instance UID: not fetched and logged again every few
# seconds by this process (a restart looks at them once more).
_PACS_REFUSED: set[str] = set()
_PACS_REFUSED_MOST = 10_000


@dataclass
class Collected:
    cases: int = 0
    received: int = 0
    refused: int = 0
    errors: list[str] = field(default_factory=list)


def pacs_images_collect(*, store: ImageStore | None = None, max_bytes: int | None = None) -> Collected:
    """Find in the PACS (QIDO-RS by the case's accession number) the level images of today's
    cases past their time-out that RightLevel does not know yet, fetch each (WADO-RS), check it
    as the receiver checks a C-STORE, and record it (``level_image_receive``: one transaction and
    audit event per image). The C-arm stores to the PACS; this is how its images reach the case.
    A PACS that does not answer is reported, never raised: the next run tries again."""
    from django.conf import settings

    from imaging import dicom

    store = store or image_store()
    limit = max_bytes or settings.IMAGING_MAX_BYTES
    result = Collected()
    for case in cases_awaiting_images():
        result.cases += 1
        try:
            refs = store.find(accession_number=accession_for(case), modalities=LEVEL_IMAGE_MODALITIES)
        except ImageStoreError as exc:
            result.errors.append(str(exc))
            logger.warning("imaging: PACS query failed: %s", exc)
            break
        known = set(
            LevelImage.objects.filter(sop_instance_uid__in=[r.sop_uid for r in refs]).values_list(
                "sop_instance_uid", flat=True
            )
        )
        for ref in refs:
            if ref.sop_uid in known or ref.sop_uid in _PACS_REFUSED:
                continue
            try:
                data = store.fetch(ref)
                ds = dicom.parse_file(data, max_bytes=limit)
                transfer_syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
                dicom.transfer_syntax_check(transfer_syntax)
                checked = dicom.check(ds, transfer_syntax=transfer_syntax)
                received = level_image_receive(
                    actor=None,
                    checked=checked,
                    data=data,
                    calling_ae_title=PACS_SOURCE,
                    room_name="",
                    store=_AlreadyInStore(store),
                )
            except ImageStoreError as exc:
                result.errors.append(str(exc))
                logger.warning("imaging: PACS fetch of %s failed: %s", ref.sop_uid, exc)
                continue
            except ImageRefused as refused:
                result.refused += 1
                if len(_PACS_REFUSED) < _PACS_REFUSED_MOST:
                    _PACS_REFUSED.add(ref.sop_uid)
                logger.warning(
                    "imaging: PACS instance %s refused (0x%04X): %s", ref.sop_uid, refused.status, refused.reason
                )
                continue
            if not received.duplicate:
                result.received += 1
                logger.info("imaging: found %s in the PACS -> case %s", ref.sop_uid, received.image.case_id)
    return result


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
        current.matched_by = MatchedBy.ASSIGNED  # unmatched_reason stays: why it needed a hand
        current.assigned_by = actor
        current.version += 1
        current.full_clean(validate_unique=False)
        # Only these columns may move (migration 0003; the application role may update no other).
        current.save(update_fields=["case", "matched_by", "assigned_by", "version"])
        audit.append(
            action=actions.IMAGE_ASSIGNED, actor=actor, case=case, obj=current, before=before, after=_summary(current)
        )
    return current


def _taps_check(taps: object, image: LevelImage) -> list[list[float]]:
    if not isinstance(taps, list) or not 2 <= len(taps) <= MOST_TAPS:
        raise field_error("taps", TAPS_SHAPE.format(most=MOST_TAPS))
    points = []
    for n, tap in enumerate(taps, start=1):
        if (
            not isinstance(tap, list | tuple)
            or len(tap) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in tap)
        ):
            raise field_error("taps", TAPS_SHAPE.format(most=MOST_TAPS))
        x, y = float(tap[0]), float(tap[1])
        if not (0 <= x < image.columns and 0 <= y < image.rows):
            raise field_error("taps", TAP_OUTSIDE.format(n=n, columns=image.columns, rows=image.rows))
        points.append([round(x, 1), round(y, 1)])
    return points


def image_read_record(
    *,
    actor: User,
    image: LevelImage,
    case: Case,
    phase: str,
    reference: str,
    taps: object,
    label: str,
    marker_in_place: bool,
    read_by: User,
    side: str = "",
    expected_version: int | None = None,
) -> ImageRead:
    """A count made by tapping on the image: the reference, then each vertebra up to the marker.
    The count (taps after the reference) is recorded as the case's localization through the
    checklist's own service, so the level check runs on it; the read binds image and localization.
    Refused: an image of another case or none, taken before the time-out, or already counted."""
    policies.require(actor, "localization.record", case)
    with transaction.atomic():
        current = LevelImage.objects.select_for_update().get(pk=image.pk)
        if current.case_id is None:
            raise ApplicationError(UNMATCHED, errors={"image": [UNMATCHED]})
        if current.case_id != case.pk:
            raise ApplicationError(NOT_THIS_CASE, errors={"image": [NOT_THIS_CASE]})
        points = _taps_check(taps, current)
        time_out = Case.objects.get(pk=case.pk).time_out_completed_at
        if time_out is not None:
            if current.acquired_at is None:
                raise ApplicationError(NO_ACQUISITION_TIME, errors={"image": [NO_ACQUISITION_TIME]})
            if current.acquired_at < time_out:
                raise ApplicationError(BEFORE_TIME_OUT, errors={"image": [BEFORE_TIME_OUT]})
        if ImageRead.objects.filter(image=current).exists():
            raise ApplicationError(ALREADY_READ, errors={"image": [ALREADY_READ]})
        localization = checklist_services.localization_record(
            actor=actor,
            case=case,
            phase=phase,
            reference=reference,
            count=len(points) - 1,
            label=label,
            marker_in_place=marker_in_place,
            read_by=read_by,
            side=side,
            expected_version=expected_version,
        )
        read = ImageRead(
            image=current,
            localization=localization,
            case=case,
            reference=reference,
            taps=points,
            count=len(points) - 1,
            read_by=read_by,
            recorded_by=actor,
            recorded_at=timezone.now(),
        )
        read.full_clean()
        read.save()
        audit.append(
            action=actions.IMAGE_READ,
            actor=actor,
            case=case,
            obj=read,
            after={
                "localization_id": localization.pk,
                "sop_instance_uid": current.sop_instance_uid,
                "series_instance_uid": current.series_instance_uid,
                "study_instance_uid": current.study_instance_uid,
                "frame": current.frame,
                "pixel_sha256": current.pixel_sha256,
                "reference": reference,
                "taps": points,
                "count": read.count,
                "read_by": read_by.pk,
            },
        )
        _report_queue(read.pk)
        if second_read_needed(case, current_evidence(case).anatomy):
            # The localization's own verdict was computed before this read existed: run it again
            # so that it asks for the blind second read.
            _verdict_again(case.pk, actor=actor, trigger=actions.IMAGE_READ)
    return read


REPORT_TASK = "imaging.tasks.read_report_store"


def _report_queue(read_id: int) -> None:
    # After commit, a worker stores the read to the PACS as an SR (the read's rows exist by then).
    transaction.on_commit(lambda: task_named(REPORT_TASK).delay(read_id))


def read_report_store(*, read_id: int, store: ImageStore | None = None) -> str:
    """Store a read (with its second read, once there is one) as a DICOM Comprehensive SR in the
    image store (STOW-RS to the PACS, or the local store), audited on the case's trail; returns
    the SR's SOP Instance UID. ``ImageStoreError`` when the store does not answer (the task retries)."""
    read = ImageRead.objects.select_related("image", "localization", "read_by").get(pk=read_id)
    second = SecondRead.objects.select_related("read_by").filter(first_read=read).first()
    store = store or image_store()
    source = dcmread(BytesIO(store.fetch(InstanceRef.from_key(read.image.storage_key))), stop_before_pixels=True)

    def as_read(reference: str, count: int, label: str, reader: User, taps: Any, marker: bool) -> sr.Read:
        return sr.Read(reference, count, label, reader.full_name or reader.get_username(), taps, marker)

    first = as_read(
        read.reference, read.count, read.localization.label, read.read_by, read.taps, read.localization.marker_in_place
    )
    report = sr.read_report(
        source,
        first,
        frame=read.image.frame,
        second=as_read(second.reference, second.count, second.label, second.read_by, second.taps, True)
        if second
        else None,
        agrees=second.agrees if second else None,
    )
    out = BytesIO()
    report.save_as(out, enforce_file_format=True)
    ref = store.store(out.getvalue())
    with transaction.atomic():
        audit.append(
            action=actions.REPORT_STORED,
            actor=None,
            case=read.case,
            obj=read,
            after={
                "sr_sop_instance_uid": ref.sop_uid,
                "sr_series_instance_uid": ref.series_uid,
                "study_instance_uid": ref.study_uid,
                "referenced_sop_instance_uid": read.image.sop_instance_uid,
                "with_second_read": second is not None,
            },
        )
    return ref.sop_uid


def _verdict_again(case_id: int, *, actor: User, trigger: str) -> None:
    locked = case_lock(case_id)
    before_state = locked.state
    checklist_services.verdict_record(case=locked, actor=actor, trigger=trigger)
    case_state_commit(locked, actor=actor, before_state=before_state, evidence=True)


SAME_READER = "The second read must be made by someone other than the first reader (and the one who recorded it)."
ALREADY_SECOND_READ = "This image already has its second read."
FIRST_READ_REPLACED = "This count was replaced by a newer read: read the newer image a second time."
MARKER_NOT_IN_PLACE = "The first read was made without the marker in place: re-image instead of reading it again."


def _second_label(label: str, case: Case) -> tuple[str, str, Any]:
    """(canonical label, structure, anatomy) read as the checklist reads a localization's label."""
    evidence = current_evidence(case)
    if evidence.plan is None:
        raise field_error("label", "There is no plan to localize against.")
    structure = STRUCTURE_BY_PROCEDURE.get(evidence.plan.procedure, "vertebra")
    anatomy = anatomy_of(evidence.anatomy)
    try:
        unit = parse_unit(label, structure, anatomy)
    except NotationError as exc:
        raise field_error("label", "; ".join(exc.messages) if getattr(exc, "messages", None) else str(exc)) from exc
    return format_unit(unit), structure, anatomy


def image_second_read_record(
    *,
    actor: User,
    read: ImageRead,
    reference: str,
    taps: object,
    label: str,
    expected_version: int | None = None,
) -> SecondRead:
    """An independent second read of a counted image, by the actor, who is neither the first
    reader nor the one who recorded the first read and has not been shown the first count. The
    two reads are compared where they land in this patient's anatomy and by the level named; a
    difference is a stop (SECOND_READ_MISMATCH), so the level check is run again here."""
    policies.require(actor, "localization.record", read.case)
    with transaction.atomic():
        case = case_lock(read.case_id, expected_version=expected_version)
        # The case lock serialises every write to this case's reads; a read row is append-only (no
        # UPDATE grant on PostgreSQL, so no row lock either), and one second read per first read
        # is also a unique constraint.
        first = ImageRead.objects.select_related("image", "localization").get(pk=read.pk)
        if actor.pk in (first.read_by_id, first.recorded_by_id):
            raise ApplicationError(SAME_READER, errors={"read_by": [SAME_READER]})
        if SecondRead.objects.filter(first_read=first).exists():
            raise ApplicationError(ALREADY_SECOND_READ, errors={"image": [ALREADY_SECOND_READ]})
        if first.localization.superseded_at is not None:
            raise ApplicationError(FIRST_READ_REPLACED, errors={"image": [FIRST_READ_REPLACED]})
        if not first.localization.marker_in_place:
            raise ApplicationError(MARKER_NOT_IN_PLACE, errors={"image": [MARKER_NOT_IN_PLACE]})
        if reference not in Reference.values:
            raise field_error("reference", "Choose the reference: sacrum, C2 or last rib.")
        points = _taps_check(taps, first.image)
        canonical, structure, anatomy = _second_label(label, case)
        count = len(points) - 1
        differences = reads_compare(
            first=first, reference=reference, count=count, label=canonical, structure=structure, anatomy=anatomy
        )
        second = SecondRead(
            first_read=first,
            image=first.image,
            case=case,
            reference=reference,
            taps=points,
            count=count,
            label=canonical,
            agrees=not differences,
            differences=differences,
            read_by=actor,
            recorded_at=timezone.now(),
        )
        second.full_clean()
        second.save()
        audit.append(
            action=actions.IMAGE_SECOND_READ,
            actor=actor,
            case=case,
            obj=second,
            after={
                "first_read_id": first.pk,
                "sop_instance_uid": first.image.sop_instance_uid,
                "pixel_sha256": first.image.pixel_sha256,
                "reference": reference,
                "taps": points,
                "count": count,
                "label": canonical,
                "agrees": second.agrees,
                "differences": differences,
            },
        )
        _verdict_again(case.pk, actor=actor, trigger=actions.IMAGE_SECOND_READ)
        _report_queue(first.pk)
    return second
