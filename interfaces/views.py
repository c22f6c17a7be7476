"""Pages of the interface: the nurse in charge resolves an appointment that needs review; the
administrators' interface page (traffic, errors, held messages) and reprocessing a corrected
message. Thin: the reads are selectors, the writes services."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from checklist.access import roles
from checklist.access.policies import user_roles, users_with_roles
from checklist.models import Procedure, Room, User
from core.errors import ApplicationError
from interfaces import selectors, services


def _actor(request: HttpRequest) -> User:
    return cast(User, request.user)


def _errors_onto(form: forms.Form, error: ApplicationError) -> None:
    """An ApplicationError's field reasons as the form's own errors (never a 500)."""
    errors = getattr(error, "errors", None) or {}
    placed = False
    for field, reasons in errors.items():
        for reason in reasons:
            form.add_error(field if field in form.fields else None, str(reason))
            placed = True
    if not placed:
        form.add_error(None, str(error))


class AppointmentResolveForm(forms.Form):
    procedure = forms.ChoiceField(choices=[("", "Choose the procedure"), *Procedure.choices])
    room = forms.ModelChoiceField(queryset=Room.objects.none(), empty_label="Choose the room")
    surgeon = forms.ModelChoiceField(queryset=User.objects.none(), empty_label="Choose the surgeon")
    anesthesia = forms.ModelChoiceField(queryset=User.objects.none(), required=False, empty_label="None yet")

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rooms = Room.objects.order_by("name")
        if roles.ADMIN not in user_roles(user):
            rooms = rooms.filter(staff=user)
        self.fields["room"].queryset = rooms  # type: ignore[attr-defined]
        self.fields["surgeon"].queryset = users_with_roles(roles.SURGEON).order_by("full_name")  # type: ignore[attr-defined]
        self.fields["anesthesia"].queryset = users_with_roles(roles.ANESTHESIA).order_by("full_name")  # type: ignore[attr-defined]
        self.fields["surgeon"].label_from_instance = lambda u: u.full_name or u.username  # type: ignore[attr-defined]
        self.fields["anesthesia"].label_from_instance = lambda u: u.full_name or u.username  # type: ignore[attr-defined]


class AppointmentResolveView(LoginRequiredMixin, View):
    """Choose the procedure, room and surgeon for what the EHR sent; the case is then scheduled."""

    template_name = "interfaces/resolve.html"

    def _appointment(self, request: HttpRequest, id: int) -> Any:
        if not selectors.may_resolve_appointments(_actor(request)):
            raise PermissionDenied(services.RESOLVE_NOT_ALLOWED)
        item = next((i for i in selectors.review_items(limit=500) if i.appointment.pk == id), None)
        if item is None:
            raise Http404("No appointment that needs review has this number.")
        return item

    def get(self, request: HttpRequest, id: int) -> HttpResponse:
        item = self._appointment(request, id)
        form = AppointmentResolveForm(user=_actor(request))
        return render(request, self.template_name, {"item": item, "form": form})

    def post(self, request: HttpRequest, id: int) -> HttpResponse:
        item = self._appointment(request, id)
        form = AppointmentResolveForm(request.POST, user=_actor(request))
        if form.is_valid():
            try:
                done = services.appointment_resolve(
                    actor=_actor(request),
                    appointment=item.appointment,
                    procedure=form.cleaned_data["procedure"],
                    room=form.cleaned_data["room"],
                    surgeon=form.cleaned_data["surgeon"],
                    anesthesia=form.cleaned_data["anesthesia"],
                )
            except ApplicationError as error:
                _errors_onto(form, error)
            else:
                messages.success(request, f"Appointment {done.appointment_id} is scheduled as case {done.case_id}.")
                return redirect("case-list")
        return render(request, self.template_name, {"item": item, "form": form}, status=400)


class InterfacePageView(LoginRequiredMixin, View):
    """The administrators' view of the interface (Django's admin keeps the raw records)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not selectors.may_manage_interface(_actor(request)):
            raise PermissionDenied(services.REPROCESS_NOT_ALLOWED)
        page = selectors.interface_page()
        peak = max((n for _, n, _ in page.per_hour), default=0)
        return render(request, "interfaces/interface.html", {"page": page, "peak": peak or 1})


class ReprocessForm(forms.Form):
    corrected = forms.CharField(
        label="Corrected message",
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "class": "hl7-text"}),
        help_text="One segment a line, starting with MSH. It is received as if the EHR had sent it.",
        strip=False,
    )


class MessageView(LoginRequiredMixin, View):
    """One received message; a refused one can be corrected and reprocessed (once)."""

    def _message(self, request: HttpRequest, id: int) -> Any:
        if not selectors.may_manage_interface(_actor(request)):
            raise PermissionDenied(services.REPROCESS_NOT_ALLOWED)
        message = selectors.message_for_admin(id)
        if message is None:
            raise Http404("No message has this number.")
        return message

    def _render(self, request: HttpRequest, message: Any, form: ReprocessForm, status: int = 200) -> HttpResponse:
        reprocessable = message.status in selectors.REFUSED and message.reprocessed_as_id is None
        context = {"message": message, "form": form, "reprocessable": reprocessable}
        return render(request, "interfaces/message.html", context, status=status)

    def get(self, request: HttpRequest, id: int) -> HttpResponse:
        message = self._message(request, id)
        return self._render(request, message, ReprocessForm(initial={"corrected": message.raw.replace("\r", "\n")}))

    def post(self, request: HttpRequest, id: int) -> HttpResponse:
        message = self._message(request, id)
        form = ReprocessForm(request.POST)
        if form.is_valid():
            try:
                new = services.message_reprocess(
                    actor=_actor(request), message=message, corrected=form.cleaned_data["corrected"]
                )
            except ApplicationError as error:
                _errors_onto(form, error)
                status = getattr(error, "status_code", 400)
                return self._render(request, selectors.message_for_admin(id), form, status=status)
            if new.ack_code == "AA":
                messages.success(request, f"Reprocessed as message {new.pk}: {new.get_status_display()}.")
            else:
                messages.error(request, f"Reprocessed as message {new.pk}, refused again ({new.ack_code}): {new.error}")
            return redirect("hl7-interface")
        return self._render(request, message, form, status=400)
