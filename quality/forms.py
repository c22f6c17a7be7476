"""Filter forms of the quality workspace. Every filter is validated: a bad date, an unknown room or a
malformed cursor is a form error (400), never a 500."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.validators import RegexValidator
from django.utils import timezone

from checklist.access import roles
from checklist.access.policies import users_with_roles
from checklist.models import Procedure, Room

DEFAULT_WEEKS = 12
MAX_RANGE_DAYS = 3660
MSG_RANGE_ORDER = "The start date is after the end date."
MSG_RANGE_TOO_LONG = "Choose a range of at most ten years."
NEAR_MISS_KINDS = (
    ("consent", "Consent"),
    ("marking", "Marking"),
    ("imaging", "Imaging"),
    ("count", "Count"),
    ("treated_levels", "Treated levels"),
    ("signature", "Signature"),
    ("evidence", "Evidence"),
)


class SurgeonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.full_name or obj.username)


def surgeons() -> Any:
    return users_with_roles(roles.SURGEON, active_only=False).order_by("full_name", "id").distinct()


class CaseFilterForm(forms.Form):
    """Date range (local dates, inclusive) and the case attributes every quality page filters on."""

    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    room = forms.ModelChoiceField(queryset=Room.objects.order_by("name"), required=False, empty_label="All rooms")
    surgeon = SurgeonChoiceField(queryset=surgeons(), required=False, empty_label="All surgeons")
    procedure = forms.ChoiceField(choices=[("", "All procedures"), *Procedure.choices], required=False)

    default_weeks: int | None = DEFAULT_WEEKS

    def __init__(self, data: Any = None, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.fields["surgeon"].queryset = surgeons()  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if self.default_weeks is not None and not self.errors:
            today = timezone.localdate()
            if end is None:
                end = cleaned["date_to"] = today
            if start is None:
                start = cleaned["date_from"] = end - dt.timedelta(weeks=self.default_weeks) + dt.timedelta(days=1)
        if start and end:
            if start > end:
                self.add_error("date_to", MSG_RANGE_ORDER)
            elif (end - start).days > MAX_RANGE_DAYS:
                self.add_error("date_from", MSG_RANGE_TOO_LONG)
        return cleaned

    def bounds(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """The range as aware datetimes [start, end) in the current time zone."""
        start, end = self.cleaned_data.get("date_from"), self.cleaned_data.get("date_to")
        return (
            timezone.make_aware(dt.datetime.combine(start, dt.time.min)) if start else None,
            timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min)) if end else None,
        )


class ExportForm(CaseFilterForm):
    hide_names = forms.BooleanField(required=False, label="Hide staff names")


class NearMissFilterForm(CaseFilterForm):
    kind = forms.ChoiceField(choices=[("", "All kinds"), *NEAR_MISS_KINDS], required=False)
    hide_names = forms.BooleanField(required=False, label="Hide staff names")
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class AuditFilterForm(CaseFilterForm):
    """The audit browser: no default range (the newest events first), keyset cursors."""

    default_weeks = None

    action = forms.CharField(
        required=False,
        max_length=60,
        validators=[RegexValidator(r"^[a-z_]+(\.[a-z_]+)*$", "An action looks like consent.recorded.")],
    )
    user = forms.CharField(required=False, max_length=150, label="User (username)")
    # The MRN is typed into a POSTed form and becomes ``patient`` (the internal id) in the URL:
    # an MRN in a query string would reach access logs, proxies and browser history.
    mrn = forms.CharField(required=False, max_length=40, label="MRN")
    patient = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    after = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("before") is not None and cleaned.get("after") is not None:
            self.add_error(None, "Give one page cursor, not two.")
        for name in ("user", "mrn"):
            cleaned[name] = (cleaned.get(name) or "").strip()
        return cleaned


class LearningNoteForm(forms.Form):
    learning_note = forms.CharField(
        required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 3}), label="Learning note"
    )
    expected_note = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput, strip=False)
