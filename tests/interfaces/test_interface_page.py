"""The administrators' interface page: messages per hour, errors with their reason, held
messages, and reprocessing a corrected message (audited, applied exactly once)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from checklist.access import roles
from checklist.models import AuditEvent, Case, Room
from core.errors import ConflictError, ForbiddenError
from interfaces import actions, selectors, services
from interfaces.models import InboundMessage, MessageStatus, ServiceCodeMapping
from interfaces.samples import siu
from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db


def tomorrow(hour: int = 8) -> dt.datetime:
    day = timezone.localtime() + dt.timedelta(days=1)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0, tzinfo=None)


@pytest.fixture
def hospital(db: None) -> None:
    Room.objects.get_or_create(name="OR 1")
    UserFactory(username="surgeon", roles=[roles.SURGEON], full_name="Dr Sid Surgeon")
    UserFactory(username="anesthesia", roles=[roles.ANESTHESIA], full_name="Dr Gas")
    ServiceCodeMapping.objects.create(code="SNRB-L", procedure="selective_nerve_root_block")


@pytest.fixture
def admin(db: None):
    return UserFactory(username="root", roles=[roles.ADMIN], full_name="Ada Admin")


def refused_s12(control_id: str = "C1") -> InboundMessage:
    """An S12 whose date of birth is in the wrong form: AE naming PID-7."""
    services.message_receive(
        raw=siu("S12", control_id=control_id, appointment_id="APT1", start=tomorrow(), dob="1960-05-01").encode()
    )
    return InboundMessage.objects.get(control_id=control_id, status=MessageStatus.ERROR)


def corrected(control_id: str = "C1") -> str:
    # As pasted in the form: one segment a line.
    return siu("S12", control_id=control_id, appointment_id="APT1", start=tomorrow()).replace("\r", "\r\n")


@pytest.mark.parametrize("role", [roles.NURSE, roles.SURGEON, roles.QUALITY_OFFICER, roles.CHARGE_NURSE])
def test_a_non_administrator_gets_403_on_the_interface_pages(client, hospital, role) -> None:
    message = refused_s12()
    client.force_login(UserFactory(username=f"u-{role}", roles=[role]))
    assert client.get("/interfaces/").status_code == 403
    assert client.get(f"/interfaces/messages/{message.pk}/").status_code == 403
    assert client.post(f"/interfaces/messages/{message.pk}/", {"corrected": corrected()}).status_code == 403
    assert not Case.objects.exists()
    assert not AuditEvent.objects.filter(action=actions.MESSAGE_REPROCESSED).exists()


def test_signed_out_the_interface_page_asks_for_a_login(client) -> None:
    response = client.get("/interfaces/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_page_shows_messages_per_hour_errors_with_their_reason_and_held_messages(client, hospital, admin) -> None:
    services.message_receive(raw=siu("S12", control_id="OK1", appointment_id="APT5", start=tomorrow()).encode())
    services.message_receive(raw=siu("S13", control_id="H1", appointment_id="APT6", start=tomorrow(9)).encode())
    refused_s12()
    page = selectors.interface_page()
    assert len(page.per_hour) == 24 and page.per_hour[-1][1:] == (3, 1) and page.received_today == 3
    assert [m.control_id for m in page.refused] == ["C1"] and [m.control_id for m in page.held] == ["H1"]
    client.force_login(admin)
    html = client.get("/interfaces/").content.decode()
    assert "Messages received per hour (last 24 hours: 3)" in html
    assert "PID-7" in html and "Held messages (1)" in html and "APT6" in html
    assert 'value="3"' in html  # the current hour's bar


def test_reprocessing_a_corrected_message_applies_it_once_and_is_audited(client, hospital, admin) -> None:
    original = refused_s12()
    client.force_login(admin)
    response = client.post(f"/interfaces/messages/{original.pk}/", {"corrected": corrected()})
    assert response.status_code == 302
    case = Case.objects.get()
    new = InboundMessage.objects.get(control_id="C1", status=MessageStatus.APPLIED)
    original.refresh_from_db()
    assert original.reprocessed_as == new and new.case == case and new.peer == "reprocessed by root"
    event = AuditEvent.objects.get(action=actions.MESSAGE_REPROCESSED)
    assert event.actor_username == "root" and event.case == case
    assert event.before["message"] == original.pk and event.after["message"] == new.pk
    assert event.after["status"] == MessageStatus.APPLIED and event.after["repeat"] is False
    # The same refused message again: refused (409), nothing applied twice.
    again = client.post(f"/interfaces/messages/{original.pk}/", {"corrected": corrected()})
    assert again.status_code == 409
    with pytest.raises(ConflictError):
        services.message_reprocess(actor=admin, message=original, corrected=corrected())
    # The EHR resending the corrected message itself is a repeat.
    ack = services.message_receive(raw=corrected().encode())
    assert "Repeat: already received." in ack
    assert Case.objects.count() == 1
    assert AuditEvent.objects.filter(action=actions.MESSAGE_REPROCESSED).count() == 1
    assert "C1" not in [m.control_id for m in selectors.interface_page().refused]


def test_a_corrected_message_the_ehr_already_resent_is_not_applied_again(hospital, admin) -> None:
    original = refused_s12()
    services.message_receive(raw=corrected().encode())  # the EHR fixed and resent it first
    assert Case.objects.count() == 1
    new = services.message_reprocess(actor=admin, message=original, corrected=corrected())
    assert new.status == MessageStatus.APPLIED and Case.objects.count() == 1
    assert AuditEvent.objects.get(action=actions.MESSAGE_REPROCESSED).after["repeat"] is True


def test_a_correction_that_is_still_wrong_is_refused_again_and_can_be_reprocessed_in_turn(
    client, hospital, admin
) -> None:
    original = refused_s12()
    client.force_login(admin)
    still_bad = corrected().replace("SNRB-L", "SNRB-L").replace("|19600501|", "|1960/05/01|")
    response = client.post(f"/interfaces/messages/{original.pk}/", {"corrected": still_bad})
    assert response.status_code == 302
    second = InboundMessage.objects.exclude(pk=original.pk).get()
    assert second.status == MessageStatus.ERROR and "PID-7" in second.error
    assert client.post(f"/interfaces/messages/{second.pk}/", {"corrected": corrected()}).status_code == 302
    assert Case.objects.count() == 1


def test_bad_input_to_reprocess_is_a_form_error(client, hospital, admin, settings) -> None:
    original = refused_s12()
    client.force_login(admin)
    assert client.post(f"/interfaces/messages/{original.pk}/", {"corrected": "   "}).status_code == 400
    settings.HL7_MAX_MESSAGE_BYTES = 100
    response = client.post(f"/interfaces/messages/{original.pk}/", {"corrected": corrected()})
    assert response.status_code == 400 and "size limit" in response.content.decode()
    accepted = InboundMessage.objects.create(
        control_id="X", status=MessageStatus.APPLIED, ack_code="AA", received_at=timezone.now(), raw="MSH|"
    )
    assert client.post(f"/interfaces/messages/{accepted.pk}/", {"corrected": corrected()}).status_code == 409
    assert client.get("/interfaces/messages/999999/").status_code == 404
    with pytest.raises(ForbiddenError):
        services.message_reprocess(actor=UserFactory(username="n", roles=[roles.NURSE]), message=original, corrected="")
    assert not Case.objects.exists()
