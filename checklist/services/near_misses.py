"""Near misses: the quality officer's learning note on a stop that was caught and resolved.

Near misses themselves are recorded by ``checklist.services.cases.verdict_record`` when a stop is
resolved by new evidence; the only change made afterwards is the note, and only by a quality
officer. The register is non-punitive: the note is about what the system and the team can learn.
"""

from __future__ import annotations

from django.db import transaction

from checklist import audit
from checklist.access import roles
from checklist.access.policies import require, user_roles
from checklist.audit.catalogue import AuditAction
from checklist.models import NearMiss, User
from core.errors import ConflictError, ForbiddenError, field_error

ONLY_QUALITY_OFFICERS = "Only a quality officer may write the learning note of a near miss."
NOTE_CHANGED = "Someone else changed this learning note since you opened it. Review it and try again."
NOTE_MAX_LENGTH = 4000


@transaction.atomic
def near_miss_annotate(
    *, actor: User, near_miss: NearMiss | int, learning_note: str, expected_note: str | None = None
) -> NearMiss:
    """Set the learning note of a near miss (audited with the note before and after).

    ``expected_note`` is the note as the officer saw it; a different note in the database means a
    concurrent edit (409) rather than a silent overwrite. A note that does not change writes nothing.
    """
    require(actor, "near_miss.view")
    if roles.QUALITY_OFFICER not in user_roles(actor):
        raise ForbiddenError(ONLY_QUALITY_OFFICERS)
    pk = near_miss.pk if isinstance(near_miss, NearMiss) else near_miss
    locked = NearMiss.objects.select_for_update().select_related("case").get(pk=pk)
    note = learning_note.strip()
    if len(note) > NOTE_MAX_LENGTH:
        raise field_error("learning_note", f"Keep the note under {NOTE_MAX_LENGTH} characters.")
    if expected_note is not None and expected_note.strip() != locked.learning_note:
        raise ConflictError(NOTE_CHANGED, extra={"current": {"learning_note": locked.learning_note}})
    if note == locked.learning_note:
        return locked
    before = locked.learning_note
    locked.learning_note = note
    locked.save(update_fields=["learning_note"])
    audit.append(
        action=AuditAction.NEAR_MISS_ANNOTATED,
        actor=actor,
        case=locked.case,
        obj=locked,
        before={"learning_note": before},
        after={"learning_note": note},
    )
    return locked
