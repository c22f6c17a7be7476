"""Add-on cases scheduled from the tablet (nurses in their rooms, administrators anywhere).

The input is validated by the API's own serializer (CaseScheduleInputSerializer) and the case is
written by the same service (``case_schedule``), so the tablet and the API accept and refuse the
same things with the same messages.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import View

from checklist import services
from checklist.access import roles
from checklist.access.policies import can, user_roles, users_with_roles
from checklist.models import Procedure, Room, User
from checklist.serializers import CaseScheduleInputSerializer
from core.errors import ApplicationError


def _rooms_for(user: User) -> Any:
    if roles.ADMIN in user_roles(user):
        return Room.objects.order_by("name")
    return Room.objects.filter(staff=user).order_by("name")


def _people(role: str) -> list[tuple[str, str]]:
    users = users_with_roles(role).order_by("full_name")
    return [(u.username, u.full_name or u.username) for u in users]


class AddOnCaseForm(forms.Form):
    mrn = forms.CharField(label="MRN", max_length=40)
    family_name = forms.CharField(max_length=120)
    given_name = forms.CharField(max_length=120)
    date_of_birth = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    room = forms.ChoiceField()
    scheduled_start = forms.DateTimeField(
        label="Start", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    procedure = forms.ChoiceField(choices=[("", "Choose the procedure"), *Procedure.choices])
    surgeon = forms.ChoiceField()
    anesthesia = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["room"].choices = [(r.name, r.name) for r in _rooms_for(user)]  # type: ignore[attr-defined]
        self.fields["surgeon"].choices = [("", "Choose the surgeon"), *_people(roles.SURGEON)]  # type: ignore[attr-defined]
        self.fields["anesthesia"].choices = [("", "None yet"), *_people(roles.ANESTHESIA)]  # type: ignore[attr-defined]


def _require_scheduler(user: User) -> None:
    if not can(user, "case.schedule"):
        raise PermissionDenied("Only nurses and administrators schedule cases.")


class AddOnCaseView(LoginRequiredMixin, View):
    template_name = "checklist/case_new.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        user = cast(User, request.user)
        _require_scheduler(user)
        start = timezone.localtime().replace(second=0, microsecond=0) + dt.timedelta(minutes=30)
        form = AddOnCaseForm(user=user, initial={"scheduled_start": start})
        return render(request, self.template_name, {"form": form})

    def post(self, request: HttpRequest) -> HttpResponse:
        user = cast(User, request.user)
        _require_scheduler(user)
        form = AddOnCaseForm(request.POST, user=user)
        if not form.is_valid():
            return render(request, self.template_name, {"form": form}, status=400)
        data = {k: v for k, v in form.cleaned_data.items() if v not in ("", None)}
        serializer = CaseScheduleInputSerializer(data={**data, "co_surgeons": []})
        if not serializer.is_valid():
            for field, errors in serializer.errors.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, str(error))
            return render(request, self.template_name, {"form": form}, status=400)
        try:
            case = services.case_schedule(actor=user, **serializer.validated_data)
        except ApplicationError as exc:
            for field, errors in exc.errors.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
            if not exc.errors:
                form.add_error(None, exc.message)
            return render(request, self.template_name, {"form": form}, status=exc.status_code)
        messages.success(
            request,
            f"Add-on case scheduled: {case.patient.family_name.upper()}, {case.patient.given_name}, "
            f"{case.get_procedure_display()} in {case.room.name} at {timezone.localtime(case.scheduled_start):%H:%M}.",
        )
        return redirect("case-detail", case_id=case.pk)
