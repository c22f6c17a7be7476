"""Serializers that describe the level-check JSON in the OpenAPI schema.

They document; they do not validate. The pure engine (``levelverify.check``) is the single
validator, so the API, the ``check_levels`` command and the case workflow refuse exactly the same
input with exactly the same field-level messages.
"""

from __future__ import annotations

from rest_framework import serializers

from levelverify.check import PROCEDURES, REFERENCES, REGIONS, SEVERITIES, SIDES, STAGES, VERDICTS
from levelverify.spine import SOURCES, STRUCTURES


class AnatomySerializer(serializers.Serializer):
    thoracic = serializers.IntegerField(min_value=11, max_value=13, required=False, default=12)
    lumbar = serializers.IntegerField(min_value=4, max_value=6, required=False, default=5)
    lowest_rib = serializers.CharField(
        required=False, help_text="Lowest rib-bearing vertebra: the last two thoracic or L1. Default T<thoracic>."
    )
    lowest_mobile = serializers.CharField(
        required=False,
        help_text="Lowest mobile vertebra above the fused sacrum: the last two lumbar or S1. Default L<lumbar>.",
    )
    source = serializers.ChoiceField(choices=list(SOURCES), required=False, default="whole_spine")  # type: ignore[assignment]  # DRF pops declared fields off the class


class OrderSerializer(serializers.Serializer):
    procedure = serializers.ChoiceField(choices=list(PROCEDURES))
    structure = serializers.ChoiceField(choices=list(STRUCTURES), required=False)
    levels = serializers.CharField(help_text="e.g. 'L2', 'L2-L3', 'L2/3', 'L1-L3', 'L1-L2, L2-L3'")
    side = serializers.ChoiceField(choices=list(SIDES))


class MarkingSerializer(serializers.Serializer):
    region = serializers.ChoiceField(choices=list(REGIONS))
    side = serializers.ChoiceField(choices=list(SIDES))


class PreopImagingSerializer(serializers.Serializer):
    levels = serializers.CharField()


class LocalizationSerializer(serializers.Serializer):
    reference = serializers.ChoiceField(choices=list(REFERENCES))
    count = serializers.IntegerField(min_value=1)
    level = serializers.CharField(help_text="The label the team gave the marked vertebra or segment.")
    marker_in_place = serializers.BooleanField()


class LevelCheckRequestSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=list(STAGES), required=False, default="time_out")
    anatomy = AnatomySerializer(required=False)
    plan = OrderSerializer(required=False)
    consent = OrderSerializer(required=False)
    marking = MarkingSerializer(required=False)
    preop_imaging = PreopImagingSerializer(required=False)
    localizations = LocalizationSerializer(many=True, required=False)


class FindingSerializer(serializers.Serializer):
    code = serializers.CharField()
    severity = serializers.ChoiceField(choices=list(SEVERITIES))
    sources = serializers.ListField(child=serializers.CharField())
    message = serializers.CharField()


class TargetSerializer(serializers.Serializer):
    procedure = serializers.CharField()
    structure = serializers.ChoiceField(choices=list(STRUCTURES))
    units = serializers.ListField(child=serializers.CharField())
    side = serializers.CharField()
    display = serializers.CharField()


class LevelCheckResponseSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=list(VERDICTS))
    stage = serializers.ChoiceField(choices=list(STAGES))
    target = TargetSerializer(allow_null=True)
    findings = FindingSerializer(many=True)
    expected_counts = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField(allow_null=True)),
        help_text="For each plan unit, the count to expect from each reference in this patient's anatomy.",
    )
    anatomy = serializers.DictField(
        help_text="The anatomy the levels were read against, with recorded, high_risk and description."
    )


class ErrorResponseSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))  # type: ignore[assignment]
