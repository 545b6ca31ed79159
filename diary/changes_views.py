"""GET sync/changes/: the patient's diary changes since a server checkpoint."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.errors import ERROR_RESPONSES
from care.access import AuditedReadMixin, visible_patient
from care.models import Patient, Role
from diary.access import NAME_A_PATIENT, NOT_FOUND, DiaryRights, parse_uuid
from diary.changes import SECTIONS, BadCheckpoint, changes_since, read_checkpoint
from diary.serializers import SERIALIZERS

BAD_CHECKPOINT = _("This checkpoint is not one the server gave for this patient.")

ChangesAnswer = inline_serializer(
    "DiaryChanges",
    fields={
        "changes": inline_serializer(
            "DiaryChangeLists",
            fields={section: SERIALIZERS[kind](many=True) for kind, section in SECTIONS.items()},
        ),
        "checkpoint": serializers.CharField(help_text="Opaque; pass it as `since` next time."),
        "has_more": serializers.BooleanField(help_text="More changes wait: call again at once."),
    },
)


class ChangesView(AuditedReadMixin, APIView):
    """Records changed since the checkpoint, latest state, at most 500 per answer."""

    @extend_schema(
        operation_id="sync_changes",
        parameters=[
            OpenApiParameter("patient", str, description="UUID; a patient may omit it (themself)"),
            OpenApiParameter("since", str, description="The checkpoint of the previous answer"),
        ],
        responses={200: ChangesAnswer, **ERROR_RESPONSES},
    )
    def get(self, request):
        patient = self.patient(request.query_params.get("patient"))
        DiaryRights(request.user).check_read(patient)
        try:
            since = read_checkpoint(patient, request.query_params.get("since"))
        except BadCheckpoint:
            raise ValidationError({"since": [BAD_CHECKPOINT]}) from None
        page = changes_since(patient, since)
        self.audit(patient.pk)
        changes = {
            SECTIONS[kind]: SERIALIZERS[kind](records, many=True).data
            for kind, records in page.records.items()
        }
        return Response({"changes": changes, "checkpoint": page.checkpoint, "has_more": page.has_more})

    def patient(self, raw: str | None) -> Patient:
        user = self.request.user
        if not raw:
            if user.role == Role.PATIENT:
                own = Patient.objects.filter(user=user).first()
                if own is None:
                    raise NotFound(NOT_FOUND)
                return own
            raise ValidationError({"patient": [NAME_A_PATIENT]})
        patient_id = parse_uuid(raw)
        if patient_id is None:
            raise NotFound(NOT_FOUND)
        return visible_patient(user, patient_id)
