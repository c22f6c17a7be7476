"""The level check's vocabulary is the engine's: the Django choices only add labels."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from checklist.models import AnatomySource, MarkingRegion, Procedure, Reference, Side, Verdict
from checklist.models.vocabulary import engine_choices
from levelverify.check import PROCEDURES, REFERENCES, REGIONS, SIDES, VERDICTS
from levelverify.spine import SOURCES


@pytest.mark.parametrize(
    ("choices", "engine"),
    [
        (Procedure, PROCEDURES),
        (Side, SIDES),
        (Verdict, VERDICTS),
        (Reference, REFERENCES),
        (MarkingRegion, REGIONS),
        (AnatomySource, SOURCES),
    ],
)
def test_each_choice_set_has_the_engine_values_in_its_order(choices, engine) -> None:
    assert choices.values == list(engine)
    assert all(label for _, label in choices.choices)


def test_members_are_named_after_their_values() -> None:
    assert Verdict.INCOMPLETE == "incomplete"
    assert Procedure.FUSION.label == "Fusion"
    assert Reference.LAST_RIB == "last_rib"


def test_a_value_without_a_label_or_a_label_without_a_value_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured):
        engine_choices("Side", SIDES, {"left": "Left"})
    with pytest.raises(ImproperlyConfigured):
        engine_choices("Side", ("left",), {"left": "Left", "up": "Up"})
