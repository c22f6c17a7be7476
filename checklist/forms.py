"""Tablet forms. Each one only shapes input; the services decide what is allowed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone

from checklist.access.policies import users_with_roles
from checklist.models import (
    AnatomySource,
    LocalizationPhase,
    MarkingRegion,
    Modality,
    Procedure,
    Reference,
    ScanInput,
    Side,
    User,
)
from checklist.services.downtime import PaperEntry
from checklist.services.evidence import MAX_SCAN_BYTES, SCAN_TOO_LARGE

YES_NO = [("yes", "Yes"), ("no", "No")]


class BigRadio(forms.RadioSelect):
    """Radio buttons drawn as large touch targets (see .choice-buttons in the stylesheet)."""

    template_name = "checklist/widgets/big_radio.html"
    option_template_name = "checklist/widgets/big_radio_option.html"


class VersionedForm(forms.Form):
    """Every write carries the case's evidence version as the device displayed it."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


def _people(role: str) -> Any:
    return users_with_roles(role).order_by("full_name")


class LevelsField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 200)
        kwargs.setdefault(
            "widget",
            forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "inputmode": "text",
                                   "class": "levels-input"}),
        )  # fmt: skip
        super().__init__(**kwargs)


class PlanForm(VersionedForm):
    levels = LevelsField(label="Level(s)", help_text="e.g. L2, L2-L3, L1-L3")
    side = forms.ChoiceField(choices=Side.choices, widget=BigRadio)
    approach = forms.CharField(max_length=200, required=False)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class SignForm(VersionedForm):
    # autocomplete off: a shared tablet must not offer to store or fill a signer's password.
    username = forms.CharField(max_length=150, required=False, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "off"}))


class ConsentForm(VersionedForm):
    # Entered from the signed paper: nothing is preselected (a preselection would agree by construction).
    procedure = forms.ChoiceField(choices=[("", "Choose the procedure on the form"), *Procedure.choices])
    levels = LevelsField(label="Level(s) on the consent")
    side = forms.ChoiceField(choices=Side.choices, widget=BigRadio)
    date_signed = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    witness = forms.CharField(max_length=200)
    scan = forms.FileField(
        required=False,
        label="Scan of the signed form (optional, at most 20 MB)",
        widget=forms.ClearableFileInput(
            attrs={"data-max-bytes": str(MAX_SCAN_BYTES), "data-too-large": SCAN_TOO_LARGE}
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["date_signed"].initial = timezone.localdate()


class MarkingForm(VersionedForm):
    region = forms.ChoiceField(choices=MarkingRegion.choices, widget=BigRadio)
    side = forms.ChoiceField(choices=Side.choices, widget=BigRadio)
    marked_by = forms.ModelChoiceField(queryset=User.objects.none(), label="Marked by")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["marked_by"].queryset = _people("surgeon")  # type: ignore[attr-defined]


class ImagingForm(VersionedForm):
    modality = forms.ChoiceField(choices=Modality.choices, widget=BigRadio)
    study_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    levels = LevelsField(label="Level of the pathology")
    reviewed_by = forms.ModelChoiceField(queryset=User.objects.none())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reviewed_by"].queryset = (_people("surgeon") | _people("radiographer")).distinct()  # type: ignore[attr-defined]


class AnatomyForm(VersionedForm):
    # Counted on the images: no usual anatomy is preselected (a count is entered, not accepted).
    thoracic = forms.TypedChoiceField(choices=[(11, "11"), (12, "12"), (13, "13")], coerce=int, widget=BigRadio)
    lumbar = forms.TypedChoiceField(choices=[(4, "4"), (5, "5"), (6, "6")], coerce=int, widget=BigRadio)
    lowest_rib = forms.CharField(max_length=4, required=False, help_text="Blank = the last thoracic vertebra")
    lowest_mobile = forms.CharField(
        max_length=4,
        required=False,
        help_text="Blank = the last lumbar vertebra; L4 if L5 is sacralized, S1 if lumbarized",
    )
    source = forms.ChoiceField(choices=AnatomySource.choices, widget=BigRadio)


# "Not shown" is an answer, not a blank: a nurse says the view does not show the side.
SIDE_NOT_SHOWN = "not_shown"
LOCALIZATION_SIDE_CHOICES = [("left", "Left"), ("right", "Right"), (SIDE_NOT_SHOWN, "Not shown on this view")]


class LocalizationForm(VersionedForm):
    phase = forms.ChoiceField(choices=LocalizationPhase.choices, widget=BigRadio)
    reference = forms.ChoiceField(choices=Reference.choices, widget=BigRadio)
    count = forms.IntegerField(min_value=1, max_value=40, widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    label = forms.CharField(max_length=20, label="Level the marker is on", widget=forms.TextInput(
        attrs={"autocomplete": "off", "autocapitalize": "characters", "class": "levels-input"}))  # fmt: skip
    marker_in_place = forms.ChoiceField(choices=YES_NO, widget=BigRadio, label="Marker still in place when read?")
    side = forms.ChoiceField(
        choices=LOCALIZATION_SIDE_CHOICES,
        widget=BigRadio,
        required=False,
        label="Side the marker or needle is on",
        help_text="Asked when the plan is left or right: a marker on the other side is a stop.",
    )
    durable_mark_placed = forms.BooleanField(required=False, label="Durable mark placed at this level")
    read_by = forms.ModelChoiceField(queryset=User.objects.none(), label="Image read by")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["read_by"].queryset = (_people("surgeon") | _people("radiographer")).distinct()  # type: ignore[attr-defined]


class TreatedLevelsForm(VersionedForm):
    levels = LevelsField(label="Levels actually treated")


class AttestForm(VersionedForm):
    step_code = forms.CharField(max_length=80)
    role = forms.CharField(max_length=20)
    shown = forms.CharField(max_length=400, required=False)


class WristbandScanForm(VersionedForm):
    # Not stripped: the scanner's group separators and symbology identifier are part of the data.
    barcode = forms.CharField(max_length=400, strip=False, label="Wristband barcode")
    source = forms.ChoiceField(choices=ScanInput.choices, required=False)


class PhaseAttestForm(VersionedForm):
    phase = forms.CharField(max_length=20)
    role = forms.CharField(max_length=20)
    # Signed by the server when it rendered this phase's button: which phase, for whom, and when.
    shown = forms.CharField(max_length=400, required=False)


class AdverseEventForm(VersionedForm):
    statement = forms.CharField(
        label="Your statement: what was treated, and how it happened",
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    username = forms.CharField(
        max_length=150, required=False, widget=forms.TextInput(attrs={"autocomplete": "username"})
    )
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class DurableMarkForm(VersionedForm):
    localization_id = forms.IntegerField(min_value=1)


class NotificationPreferenceForm(forms.Form):
    email = forms.BooleanField(required=False, label="Also send reminders by e-mail")
    webhook = forms.BooleanField(required=False, label="Also page me through the paging system")
    pager_id = forms.CharField(max_length=60, required=False, label="Pager id")


class DowntimeBackEntryForm(VersionedForm):
    """The downtime sheet, back-entered (issue 18): for each step and role still to attest, who
    initialled the paper and the time written beside it. A row left blank is not entered; a row
    with only one of the two is an error (nothing on the paper is dropped without a word)."""

    paper_date = forms.DateField(
        label="Date on the paper",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The case's day unless the paper says otherwise (a case past midnight).",
    )

    def __init__(self, *args: Any, rows: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows = rows
        for row in rows:
            self.fields[f"{row.key}-attested_by"] = forms.ModelChoiceField(
                queryset=_people(row.role),
                required=False,
                label=f"Initialled by ({row.role})",
                empty_label="— not on the paper —",
            )
            self.fields[f"{row.key}-time"] = forms.TimeField(
                required=False,
                label="Time on the paper",
                widget=forms.TimeInput(attrs={"type": "time", "class": "time-input"}, format="%H:%M"),
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for row in self.rows:
            who, time = data.get(f"{row.key}-attested_by"), data.get(f"{row.key}-time")
            if who and time is None and f"{row.key}-time" not in self.errors:
                self.add_error(f"{row.key}-time", "Give the time written beside the initials.")
            if time is not None and not who and f"{row.key}-attested_by" not in self.errors:
                self.add_error(f"{row.key}-attested_by", "Choose who initialled this box.")
        return data

    def entries(self) -> list[PaperEntry]:
        """The filled rows, as the service takes them."""
        data = self.cleaned_data
        filled = []
        for row in self.rows:
            who, time = data.get(f"{row.key}-attested_by"), data.get(f"{row.key}-time")
            if who and time is not None:
                at = dt.datetime.combine(data["paper_date"], time)
                filled.append(PaperEntry(step_code=row.step_code, role=row.role, attested_by=who, paper_time=at,
                                         key=row.key))  # fmt: skip
        return filled

    def row_fields(self) -> list[tuple[Any, Any, Any]]:
        """(row, who field, time field) for the template."""
        return [(row, self[f"{row.key}-attested_by"], self[f"{row.key}-time"]) for row in self.rows]
