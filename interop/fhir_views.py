"""The read-only FHIR R4 REST API under /fhir/ (API.md "FHIR"): `metadata`, reads, the
searches by patient, `Patient/{id}/$everything`, all `application/fhir+json`, errors as
OperationOutcome. The same bearer tokens, access rules and audit as /api/v1/."""

from __future__ import annotations

import logging
import uuid
from typing import Any
from urllib.parse import urlencode

from django.http import Http404
from django.utils import translation
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.authentication import JWTAuthentication
from care.access import AuditedReadMixin
from care.models import Patient, Role, TeamMembership, User
from interop.bundles import searchset_bundle
from interop.capability import capability_statement
from interop.mapping.codesystems import code_system_resource, family_of
from interop.mapping.common import fhir_base
from interop.mapping.patient import patient_resource, practitioner_resource
from interop.mapping.questionnaire import CHECKIN_QUESTIONNAIRE_ID, questionnaire_resource
from interop.models import FhirEndpoint
from interop.reads import READS
from interop.referral_hook import subscription_id, subscription_resource
from interop.search import DEFAULT_COUNT, MAX_COUNT, SearchError, Source, run
from interop.smart import SystemTokenAuthentication
from interop.sources import EVERYTHING, context_for, practitioners, search_sources
from interop.validation import InvalidResource, validate

FHIR_JSON = "application/fhir+json"
logger = logging.getLogger(__name__)


class FhirJSONRenderer(JSONRenderer):
    media_type = FHIR_JSON
    format = "fhir"


def operation_outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    return validate(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
        }
    )


ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    429: "throttled",
}


def fhir_response(body: dict[str, Any], status_code: int = 200, **headers: str) -> Response:
    return Response(body, status=status_code, content_type=FHIR_JSON, headers=headers or None)


@extend_schema(exclude=True)  # described by its own CapabilityStatement, not the /api/v1/ schema
class FhirView(AuditedReadMixin, APIView):
    renderer_classes = [FhirJSONRenderer, JSONRenderer]
    authentication_classes = [SystemTokenAuthentication, JWTAuthentication]

    def handle_exception(self, exc):
        if isinstance(exc, Http404):
            exc = exceptions.NotFound()
        if isinstance(exc, SearchError):
            exc = exceptions.ValidationError(str(exc))
        if isinstance(exc, InvalidResource):
            # A mapping fault of ours: nothing unvalidated leaves, and the client is told.
            logger.error("a FHIR resource failed validation on %s", self.request.path)
            return fhir_response(
                operation_outcome("exception", "the server could not build a valid resource"), 500
            )
        if isinstance(exc, exceptions.APIException):
            if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
                # RFC 6750: a 401 names the scheme to authenticate with.
                auth_header = self.get_authenticate_header(self.request)
                headers = {"WWW-Authenticate": auth_header} if auth_header else {}
                exc.status_code = status.HTTP_401_UNAUTHORIZED
            else:
                headers = {}
            detail = exc.detail
            text = detail if isinstance(detail, str) else "; ".join(str(d) for d in _flat(detail))
            code = ISSUE_CODES.get(exc.status_code, "processing")
            if getattr(exc, "wait", None):
                headers["Retry-After"] = str(int(exc.wait))
            return fhir_response(operation_outcome(code, str(text)), exc.status_code, **headers)
        return super().handle_exception(exc)

    def patient_for(self, patient_id: str) -> Patient:
        """A patient this caller may read through FHIR: the patient themself or a clinician
        of their team (as `patients/{id}/fhir/`); else 404, or 403 for a linked caregiver."""
        user = self.request.user
        patient_id = patient_id.removeprefix("Patient/")
        patient = (
            Patient.objects.visible_to(user)
            .select_related("care_team")
            .filter(pk=parse_id(patient_id))
            .first()
        )
        if patient is None:
            raise exceptions.NotFound(f"Patient/{patient_id} is not known")
        if user.role not in (Role.CLINICIAN, Role.PATIENT, Role.ADMIN):
            raise exceptions.PermissionDenied("caregivers read the diary through the app's API")
        self.audit(patient.pk)
        return patient


def _flat(detail):
    if isinstance(detail, dict):
        for value in detail.values():
            yield from _flat(value)
    elif isinstance(detail, list):
        for value in detail:
            yield from _flat(value)
    else:
        yield detail


def parse_id(value: str) -> uuid.UUID:
    """Crossroad ids are UUIDs: anything else names nothing here (404)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise exceptions.NotFound(f"{value} is not a Crossroad id") from None


class MetadataView(FhirView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request):
        return fhir_response(capability_statement())


class PatientReadView(FhirView):
    def get(self, request, patient_id: str):
        return fhir_response(validate(patient_resource(self.patient_for(patient_id))))


def page_count(request) -> int:
    raw = request.query_params.get("_count")
    if raw is None:
        return DEFAULT_COUNT
    try:
        count = int(raw)
    except ValueError:
        raise SearchError("_count must be a number") from None
    if count < 1:
        raise SearchError("_count must be at least 1")
    return min(count, MAX_COUNT)


def _page_urls(request, path: str, next_cursor: str | None) -> tuple[str, str | None]:
    params = [(k, v) for k, values in request.query_params.lists() for v in values if k != "_cursor"]
    base = f"{fhir_base()}/{path}"
    cursor = request.query_params.get("_cursor")
    self_url = f"{base}?{urlencode([*params, ('_cursor', cursor)] if cursor else params)}".rstrip("?")
    next_url = f"{base}?{urlencode([*params, ('_cursor', next_cursor)])}" if next_cursor else None
    return self_url, next_url


def searchset(request, path: str, sources: list[Source], patient: Patient) -> Response:
    count = page_count(request)
    resources, next_cursor = run(
        sources, context_for(patient), count=count, cursor=request.query_params.get("_cursor")
    )
    self_url, next_url = _page_urls(request, path, next_cursor)
    return fhir_response(searchset_bundle(resources, self_url=self_url, next_url=next_url))


class EverythingView(FhirView):
    """Patient/{id}/$everything: every resource about the patient, paged."""

    def get(self, request, patient_id: str):
        patient = self.patient_for(patient_id)
        return searchset(request, f"Patient/{patient.pk}/$everything", EVERYTHING, patient)


# The parameter naming the patient, per resource type searched.
PATIENT_PARAM = {"AdverseEvent": "subject"}


class SearchView(FhirView):
    resource_type = ""

    def get(self, request):
        name = PATIENT_PARAM.get(self.resource_type, "patient")
        patient_id = request.query_params.get(name) or request.query_params.get("subject")
        if not patient_id:
            own = getattr(request.user, "patient", None) if request.user.role == Role.PATIENT else None
            if own is None:
                raise SearchError(f"{self.resource_type} searches need `{name}`")
            patient_id = str(own.pk)
        patient = self.patient_for(patient_id)
        return searchset(
            request, self.resource_type, search_sources(self.resource_type, request.query_params), patient
        )


SOURCES = {source.name: source for source in EVERYTHING}


class ReadView(FhirView):
    resource_type = ""

    def get(self, request, resource_id: str):
        pk = parse_id(resource_id)
        for model, patient_field, source_name, by_patient in READS[self.resource_type]:
            patient_id = model.objects.filter(pk=pk).values_list(patient_field, flat=True).first()
            if patient_id is None:
                continue
            patient = self.patient_for(str(patient_id))
            source, ctx = SOURCES[source_name], context_for(patient)
            row = source.rows(ctx).filter(pk=patient.pk if by_patient else pk).first()
            for resource in source.expand(row, ctx) if row else []:
                if resource["resourceType"] == self.resource_type and resource["id"] == str(pk):
                    return fhir_response(validate(resource))
        raise exceptions.NotFound(f"{self.resource_type}/{resource_id} is not known")


class PractitionerReadView(FhirView):
    """A clinician named by a resource: readable by their team colleagues and by the
    patients whose records or referrals name them (staff data, not patient data)."""

    def get(self, request, resource_id: str):
        user = request.user
        clinician = User.objects.filter(pk=parse_id(resource_id), role=Role.CLINICIAN).first()
        allowed = False
        if clinician is not None:
            colleagues = TeamMembership.objects.filter(user=clinician, team__memberships__user=user)
            allowed = user.role == Role.CLINICIAN and colleagues.exists()
            own = getattr(user, "patient", None) if user.role == Role.PATIENT else None
            if not allowed and own is not None:
                allowed = practitioners(context_for(own)).filter(pk=clinician.pk).exists()
        if not allowed:
            raise exceptions.NotFound(f"Practitioner/{resource_id} is not known")
        return fhir_response(validate(practitioner_resource(clinician)))


class SubscriptionReadView(FhirView):
    """The team's referral rest-hook as the Subscription its notifications name (the
    team's clinicians)."""

    def get(self, request, resource_id: str):

        endpoints = FhirEndpoint.objects.filter(team__memberships__user=request.user)
        for endpoint in endpoints if request.user.role == Role.CLINICIAN else []:
            if subscription_id(endpoint.team_id) == resource_id:
                return fhir_response(subscription_resource(endpoint))
        raise exceptions.NotFound(f"Subscription/{resource_id} is not known")


class QuestionnaireView(FhirView):
    """The diary's questionnaires, in the request's language (`Accept-Language`)."""

    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request, resource_id: str):
        if resource_id != CHECKIN_QUESTIONNAIRE_ID:
            raise exceptions.NotFound(f"Questionnaire/{resource_id} is not known")
        response = fhir_response(validate(questionnaire_resource(translation.get_language() or "en")))
        response["Vary"] = "Accept-Language"
        return response


class CodeSystemView(FhirView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request, resource_id: str):
        family = family_of(resource_id)
        if family is None:
            raise exceptions.NotFound(f"CodeSystem/{resource_id} is not known")
        response = fhir_response(validate(code_system_resource(family, translation.get_language() or "en")))
        response["Vary"] = "Accept-Language"
        return response
