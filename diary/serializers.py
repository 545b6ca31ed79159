"""Validation and shape of diary records (API.md "Diary"). No queries, no side effects."""

from __future__ import annotations

from functools import cached_property
from zoneinfo import ZoneInfo

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from care.serializers import TimezoneField
from diary import catalog
from diary.fields import (
    SCORE_MAX,
    SCORE_MIN,
    ClientIdField,
    CodeListField,
    ObservedAtField,
    ScoreMapField,
    StrictIntegerField,
    score_field,
)
from diary.models import AdverseEffect, CheckIn, MedicationDose, PtaBolus

# The catalog serves the same text, so that an offline phone can show it at once.
SAFETY_MESSAGE = catalog.SAFETY_MESSAGE

SERVER_FIELDS = [
    "patient",
    "reported_by",
    "reporter_role",
    "local_date",
    "created_at",
    "updated_at",
    "status",
    "late",
    "version",
    "retracted_reason",
]


class RecordSerializer(serializers.ModelSerializer):
    """Common to the four record types. `context["patient"]` is the patient written for."""

    id = ClientIdField()
    timezone = TimezoneField(max_length=64, required=False)
    patient = serializers.UUIDField(source="patient_id", read_only=True)
    reported_by = serializers.UUIDField(source="reported_by_id", read_only=True)

    class Meta:
        fields = ["id", "timezone", *SERVER_FIELDS]
        read_only_fields = SERVER_FIELDS

    # `sync/` validates hundreds of items with one serializer (diary.ingest.validator): what
    # DRF works out again for every item is worked out once here.
    @cached_property
    def _writable_fields(self) -> list[serializers.Field]:
        return [field for field in self.fields.values() if not field.read_only]

    def run_validators(self, value) -> None:
        # DRF gathers the read-only fields' defaults for the validators first: with no
        # validator (these models have no unique-together), there is nothing to run.
        if self.validators:
            super().run_validators(value)

    def validate(self, attrs: dict) -> dict:
        patient = self.context.get("patient")
        observed_field = self.Meta.model.observed_field
        # A new record, or a correction of its time or zone: its local day must not be
        # before enrollment. Other corrections leave the day alone and are not re-checked.
        if patient is None or (observed_field not in attrs and "timezone" not in attrs):
            return attrs
        observed = attrs.get(observed_field, getattr(self.instance, observed_field, None))
        zone = attrs.get("timezone") or getattr(self.instance, "timezone", None) or patient.timezone
        if observed is not None and observed.astimezone(ZoneInfo(zone)).date() < patient.enrolled_on:
            raise serializers.ValidationError(
                {observed_field: [_("This is before the patient's enrollment date.")]}
            )
        return attrs

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # The moment observed reads as the phone showed it: wall clock and offset in the
        # record's own zone (the same instant as the UTC that is stored).
        observed_field = self.Meta.model.observed_field
        observed = getattr(instance, observed_field, None)
        if observed is not None and instance.timezone:
            data[observed_field] = observed.astimezone(ZoneInfo(instance.timezone)).isoformat()
        return data


class InterferenceSerializer(serializers.Serializer):
    general_activity = score_field(required=False, allow_null=True)
    mood = score_field(required=False, allow_null=True)
    walking = score_field(required=False, allow_null=True)
    work = score_field(required=False, allow_null=True)
    relations = score_field(required=False, allow_null=True)
    sleep = score_field(required=False, allow_null=True)
    enjoyment = score_field(required=False, allow_null=True)

    def run_validation(self, data=serializers.empty):
        # Known items with scores in range or null, as the app sends them, are accepted here
        # directly; anything else (errors included) takes DRF's path.
        if type(data) is dict and all(
            code in self.fields
            and (score is None or (type(score) is int and SCORE_MIN <= score <= SCORE_MAX))
            for code, score in data.items()
        ):
            return {code: score for code, score in sorted(data.items()) if score is not None}
        # A non-object is an error of `interference` itself, not of a nested
        # `interference.non_field_errors` (API.md error paths).
        if data is not serializers.empty and data is not None and not isinstance(data, dict):
            raise serializers.ValidationError([_("Expected an object of scores by code.")])
        return super().run_validation(data)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields)
            if unknown:
                raise serializers.ValidationError({code: [_("Unknown code.")] for code in sorted(unknown)})
        values = super().to_internal_value(data)
        return {code: score for code, score in sorted(values.items()) if score is not None}

    def to_representation(self, instance: dict) -> dict:
        return instance


class CheckInSerializer(RecordSerializer):
    recorded_at = ObservedAtField()
    pain_now = score_field()
    pain_worst = score_field(required=False, allow_null=True)
    pain_least = score_field(required=False, allow_null=True)
    pain_average = score_field(required=False, allow_null=True)
    interference = InterferenceSerializer(required=False)
    neuropathic = CodeListField(frozenset(catalog.NEUROPATHIC_DESCRIPTORS), required=False)
    pain_sites = CodeListField(frozenset(catalog.PAIN_SITES), required=False)
    breakthrough_episodes = StrictIntegerField(min_value=0, max_value=100, required=False, allow_null=True)
    symptoms = ScoreMapField(catalog.CHECKIN_SYMPTOM_CODES, required=False)
    red_flags = CodeListField(frozenset(catalog.RED_FLAGS), required=False)
    wants_fewer_medications = serializers.BooleanField(required=False)
    wants_procedure_discussion = serializers.BooleanField(required=False)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    interference_mean = serializers.FloatField(read_only=True, allow_null=True)  # under 4 of 7 items
    safety_message = serializers.SerializerMethodField()

    class Meta(RecordSerializer.Meta):
        model = CheckIn
        fields = [
            *RecordSerializer.Meta.fields,
            *CheckIn.client_fields,
            "interference_mean",
            "safety_message",
        ]

    def get_safety_message(self, record: CheckIn) -> str | None:
        return str(SAFETY_MESSAGE) if record.red_flags else None


class AdverseEffectSerializer(RecordSerializer):
    recorded_at = ObservedAtField()
    effect = serializers.ChoiceField(choices=list(catalog.ADVERSE_EFFECTS))
    grade = StrictIntegerField(min_value=0, max_value=4)
    suspected_drug = serializers.CharField(max_length=100, required=False, allow_blank=True)
    limits_daily_activities = serializers.BooleanField(required=False)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)

    class Meta(RecordSerializer.Meta):
        model = AdverseEffect
        fields = [*RecordSerializer.Meta.fields, *AdverseEffect.client_fields]


class PtaBolusSerializer(RecordSerializer):
    occurred_at = ObservedAtField()
    outcome = serializers.ChoiceField(choices=PtaBolus.Outcome.choices)
    dose = serializers.DecimalField(
        max_digits=10, decimal_places=4, min_value=0, required=False, allow_null=True, coerce_to_string=False
    )
    unit = serializers.ChoiceField(choices=["mg", "mcg", "ml"], required=False, allow_blank=True)
    pain_before = score_field(required=False, allow_null=True)
    pain_after = score_field(required=False, allow_null=True)
    source = serializers.ChoiceField(choices=PtaBolus.Source.choices, required=False)

    class Meta(RecordSerializer.Meta):
        model = PtaBolus
        fields = [*RecordSerializer.Meta.fields, *PtaBolus.client_fields]


class MedicationDoseSerializer(RecordSerializer):
    taken_at = ObservedAtField()
    drug = serializers.ChoiceField(choices=list(catalog.DRUGS))
    dose = serializers.DecimalField(max_digits=10, decimal_places=4, min_value=0, coerce_to_string=False)
    unit = serializers.ChoiceField(choices=["mg", "mcg", "mcg/h"])
    route = serializers.ChoiceField(
        choices=[
            "oral",
            "transdermal",
            "subcutaneous",
            "intravenous",
            "sublingual",
            "intranasal",
            "intrathecal",
        ]
    )
    kind = serializers.ChoiceField(choices=MedicationDose.Kind.choices, required=False)
    mme = serializers.DecimalField(max_digits=10, decimal_places=2, read_only=True, coerce_to_string=False)
    mme_note = serializers.SerializerMethodField()

    class Meta(RecordSerializer.Meta):
        model = MedicationDose
        fields = [*RecordSerializer.Meta.fields, *MedicationDose.client_fields, "mme", "mme_note"]

    def get_mme_note(self, record: MedicationDose) -> str:
        # Worded when read, in the reader's language, not frozen in the writer's.
        reason = catalog.mme_reason_code(record.drug, record.route, record.unit)
        return str(catalog.MME_NULL_REASONS[reason]) if reason else ""

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        drug_code = attrs.get("drug", getattr(self.instance, "drug", None))
        drug = catalog.DRUGS.get(drug_code)
        if drug is None:
            return attrs
        errors = {}
        if attrs.get("dose") is not None and attrs["dose"] <= 0:
            errors["dose"] = [_("The dose must be greater than zero.")]
        route = attrs.get("route", getattr(self.instance, "route", None))
        unit = attrs.get("unit", getattr(self.instance, "unit", None))
        if route not in drug.routes:
            errors["route"] = [_("This route is not used for this drug.")]
        if unit not in drug.units:
            errors["unit"] = [_("This unit is not used for this drug.")]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class RetractSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


SERIALIZERS: dict[str, type[RecordSerializer]] = {
    "checkin": CheckInSerializer,
    "adverse_effect": AdverseEffectSerializer,
    "bolus": PtaBolusSerializer,
    "medication": MedicationDoseSerializer,
}
