from __future__ import annotations

import uuid
from functools import cached_property

import django_filters
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation.trans_real import parse_accept_lang_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.errors import ERROR_RESPONSES, detail_response
from care.access import AuditedReadMixin, visible_patient
from care.models import Patient
from diary import services
from diary.access import DiaryRights
from diary.ingest import ingest
from diary.models import RECORD_MODELS, RecordStatus
from diary.serializers import SERIALIZERS, RetractSerializer
from diary.summary import daily_summary
from diary.sync import sync_batch

CONFLICT = _("Another record with this id exists with different content.")
RETRACTED = _("This record was entered in error and can no longer be corrected.")


class RecordFilter(django_filters.FilterSet):
    patient = django_filters.UUIDFilter(field_name="patient_id")
    # `from` and `to` are the patient's local dates (API.md "Conventions").
    from_ = django_filters.DateFilter(field_name="local_date", lookup_expr="gte", label="from")
    to = django_filters.DateFilter(field_name="local_date", lookup_expr="lte")
    status = django_filters.ChoiceFilter(choices=RecordStatus.choices)

    def __init__(self, data=None, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        self.filters["from"] = self.filters.pop("from_")


_409 = OpenApiResponse(
    inline_serializer("Conflict", fields={"detail": serializers.CharField()}),
    description="A record with this id exists with different content; nothing changed.",
)


_404 = detail_response("The patient named is not one the caller may know (an unlinked or revoked caregiver).")


class RecordViewSet(
    AuditedReadMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """List, create, read, correct and retract one record type (API.md "Diary")."""

    kind: str
    http_method_names = ["get", "post", "patch", "head", "options"]
    # Any path segment reaches get_object, which answers a JSON 404 for a malformed id
    # (the router's default pattern would leave ids with a dot to Django's HTML 404).
    lookup_value_regex = "[^/]+"
    filterset_class = RecordFilter

    @property
    def model(self):
        return RECORD_MODELS[self.kind]

    def get_serializer_class(self):
        return SERIALIZERS[self.kind]

    @cached_property
    def rights(self) -> DiaryRights:
        return DiaryRights(self.request.user)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return self.model.objects.none()
        return self.model.objects.filter(patient__in=self.rights.readable().values("pk"))

    def filter_queryset(self, queryset):
        patient_id = self.request.query_params.get("patient")
        if patient_id:
            try:
                patient = visible_patient(self.request.user, uuid.UUID(patient_id))
            except ValueError:
                raise ValidationError({"patient": [_("Must be a valid UUID.")]}) from None
            self.rights.check_read(patient)
        return super().filter_queryset(queryset)

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        self.audit(*(record.patient_id for record in page or ()))
        return page

    def get_object(self):
        try:
            pk = uuid.UUID(str(self.kwargs["pk"]))
        except ValueError:
            raise Http404 from None
        visible = Patient.objects.visible_to(self.request.user)
        record = get_object_or_404(
            self.model.objects.select_related("patient").filter(patient__in=visible.values("pk")),
            pk=pk,
        )
        if self.request.method == "GET":
            self.rights.check_read(record.patient)
            self.audit(record.patient_id)
        else:
            self.rights.check_change(record.patient)
        return record

    def respond(self, record, patient: Patient, code: int) -> Response:
        with translation.override(response_language(self.request, patient)):
            data = self.get_serializer(record).data
        return Response(data, status=code)

    def create(self, request, *args, **kwargs):
        if not isinstance(request.data, dict):
            raise ValidationError({"body": [_("Expected an object.")]})
        [outcome] = ingest(user=request.user, items=[(self.kind, request.data)])
        if outcome.error is not None:
            raise outcome.error
        if outcome.status == "conflict":
            return Response({"detail": str(CONFLICT)}, status=status.HTTP_409_CONFLICT)
        if outcome.status == "duplicate":
            stored = self.model.objects.get(pk=outcome.record.pk)
            return self.respond(stored, outcome.patient, status.HTTP_200_OK)
        return self.respond(outcome.record, outcome.patient, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        record = self.get_object()
        if record.status == RecordStatus.ENTERED_IN_ERROR:
            raise ValidationError({"status": [RETRACTED]})
        serializer = self.get_serializer(
            record, data=request.data, partial=True, context={"patient": record.patient}
        )
        serializer.is_valid(raise_exception=True)
        record = services.correct_record(record=record, by=request.user, data=serializer.validated_data)
        return self.respond(record, record.patient, status.HTTP_200_OK)

    @action(detail=True, methods=["post"])
    def retract(self, request, pk=None):
        record = self.get_object()
        serializer = RetractSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record = services.retract_record(
            record=record, by=request.user, reason=serializer.validated_data["reason"]
        )
        return self.respond(record, record.patient, status.HTTP_200_OK)


def response_language(request, patient: Patient) -> str:
    """SPEC: the safety message speaks the request's language, else the patient's.

    The first language of `Accept-Language` that we have wins; a header naming none of
    ours (`de`, `*`) falls back to the patient's language, not to English.
    """
    for code, _quality in parse_accept_lang_header(request.META.get("HTTP_ACCEPT_LANGUAGE", "")):
        if code == "*":
            break
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return patient.language


# The URL takes any segment (a malformed one answers a JSON 404); the contract is a UUID.
RECORD_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)


def record_viewset(kind: str) -> type[RecordViewSet]:
    """The viewset of one record type, with its request and response schemas."""
    serializer = SERIALIZERS[kind]
    view = type(f"{RECORD_MODELS[kind].__name__}ViewSet", (RecordViewSet,), {"kind": kind})
    return extend_schema_view(
        create=extend_schema(
            request=serializer,
            responses={201: serializer, 200: serializer, 404: _404, 409: _409, **ERROR_RESPONSES},
        ),
        retrieve=extend_schema(parameters=[RECORD_ID]),
        partial_update=extend_schema(
            parameters=[RECORD_ID], request=serializer, responses={200: serializer, **ERROR_RESPONSES}
        ),
        retract=extend_schema(
            parameters=[RECORD_ID], request=RetractSerializer, responses={200: serializer, **ERROR_RESPONSES}
        ),
    )(view)


CheckInViewSet = record_viewset("checkin")
AdverseEffectViewSet = record_viewset("adverse_effect")
PtaBolusViewSet = record_viewset("bolus")
MedicationDoseViewSet = record_viewset("medication")


SyncResult = inline_serializer(
    "SyncResult",
    fields={
        "results": serializers.ListField(
            child=inline_serializer(
                "SyncItemResult",
                fields={
                    "type": serializers.ChoiceField(choices=list(RECORD_MODELS)),
                    "id": serializers.CharField(allow_null=True),
                    "status": serializers.ChoiceField(
                        choices=["created", "duplicate", "conflict", "invalid"]
                    ),
                    "errors": serializers.DictField(
                        child=serializers.ListField(child=serializers.CharField()), required=False
                    ),
                },
            )
        )
    },
)
SyncRequest = inline_serializer(
    "SyncRequest",
    fields={
        "checkins": SERIALIZERS["checkin"](many=True, required=False),
        "adverse_effects": SERIALIZERS["adverse_effect"](many=True, required=False),
        "boluses": SERIALIZERS["bolus"](many=True, required=False),
        "medications": SERIALIZERS["medication"](many=True, required=False),
    },
)


class SyncView(APIView):
    """Offline batch: each item answered on its own; safe to retry in any order."""

    @extend_schema(
        request=SyncRequest,
        responses={
            200: SyncResult,
            413: OpenApiResponse(description="More than 500 records."),
            **ERROR_RESPONSES,
        },
    )
    def post(self, request):
        return Response({"results": sync_batch(user=request.user, body=request.data)})


SummaryDays = inline_serializer(
    "SummaryDay",
    many=True,
    fields={
        "date": serializers.DateField(),
        "pain_worst": serializers.IntegerField(allow_null=True),
        "pain_average": serializers.FloatField(allow_null=True),
        "interference_mean": serializers.FloatField(allow_null=True),
        "symptoms": serializers.DictField(child=serializers.IntegerField()),
        "clusters": serializers.DictField(
            child=inline_serializer(
                "ClusterDay",
                fields={
                    "score": serializers.FloatField(allow_null=True),
                    "active": serializers.BooleanField(),
                },
            )
        ),
        "boluses": inline_serializer(
            "BolusCounts",
            fields={"delivered": serializers.IntegerField(), "denied": serializers.IntegerField()},
        ),
        "mme": serializers.FloatField(allow_null=True),
    },
)
Summary = inline_serializer(
    "Summary",
    fields={
        "days": SummaryDays,
        "box2_criteria_met": serializers.ListField(child=serializers.IntegerField()),
        "adherence": inline_serializer(
            "Adherence",
            fields={"days_with_checkin": serializers.IntegerField(), "days": serializers.IntegerField()},
        ),
    },
)


class SummaryQuery(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=365, default=28)


class SummaryView(AuditedReadMixin, APIView):
    """Per local day: pain, interference, symptoms, clusters, boluses, MME; and adherence."""

    @extend_schema(
        parameters=[
            # A str in the URL pattern so that a malformed id answers a JSON 404.
            OpenApiParameter("patient_id", OpenApiTypes.UUID, OpenApiParameter.PATH),
            OpenApiParameter("days", int, description="1 to 365, default 28"),
        ],
        responses={200: Summary, **ERROR_RESPONSES},
    )
    def get(self, request, patient_id):
        patient = visible_patient(request.user, patient_id)
        DiaryRights(request.user).check_read(patient)
        query = SummaryQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        self.audit(patient.pk)
        return Response(daily_summary(patient, query.validated_data["days"]))
