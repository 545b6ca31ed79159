"""Bulk Data v3.0.0 endpoints: `Group/{team}/$export` kick-off, the status URL (poll,
manifest, DELETE to cancel), the NDJSON files behind the token, and the SMART token
endpoint."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, JsonResponse
from django.utils.dateparse import parse_datetime
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from care.auth import AddressRateThrottle
from care.models import CareTeam, Patient, Role, TeamMembership
from interop import bulk
from interop.fhir_views import FhirView, fhir_response, operation_outcome, parse_id
from interop.mapping.common import fhir_base
from interop.mapping.everything import RESOURCE_TYPES
from interop.models import BulkExport
from interop.smart import SystemGrant, TokenError, issue_token, scoped_types, token_url
from interop.validation import validate

NDJSON_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
Status = BulkExport.Status


def status_url(export: BulkExport) -> str:
    return f"{fhir_base()}/bulk-status/{export.pk}"


def file_entry(export: BulkExport, item: dict) -> dict:
    return {
        "type": item["type"],
        "url": f"{status_url(export)}/{item['type']}.ndjson",
        "count": item["count"],
    }


class ExportKickOffView(FhirView):
    def get(self, request, team_id: str):
        team = self.team_for(team_id)
        if "respond-async" not in request.headers.get("Prefer", ""):
            raise exceptions.ValidationError("Bulk export needs the header Prefer: respond-async")
        output_format = request.query_params.get("_outputFormat", "application/fhir+ndjson")
        if output_format not in NDJSON_FORMATS:
            raise exceptions.ValidationError(f"_outputFormat {output_format!r} is not supported")
        try:
            types = bulk.parse_types(request.query_params.get("_type"))
        except ValueError as exc:
            raise exceptions.ValidationError(str(exc)) from None
        if (
            isinstance(request.auth, SystemGrant)
            and (allowed := scoped_types(request.auth.scope)) is not None
        ):
            if set(types) - allowed:
                raise exceptions.PermissionDenied(
                    f"the token's scope reads only {', '.join(sorted(allowed))}"
                )
            types = types or sorted(allowed & set(RESOURCE_TYPES))
        since = None
        if raw := request.query_params.get("_since"):
            since = parse_datetime(raw)
            if since is None or since.tzinfo is None:
                raise exceptions.ValidationError("_since must be an instant with its offset")
        export = bulk.start_export(
            team=team, by=request.user, types=types, since=since, request_url=request.build_absolute_uri()
        )
        return fhir_response(
            operation_outcome("informational", "export accepted", severity="information"),
            202,
            **{"Content-Location": status_url(export)},
        )

    def team_for(self, team_id: str) -> CareTeam:
        """A team's own clinicians, or a system client registered for it; else 404."""
        pk = parse_id(team_id)
        grant = self.request.auth
        if isinstance(grant, SystemGrant):
            allowed = str(pk) in grant.team_ids
        else:
            user = self.request.user
            allowed = (
                user.role == Role.CLINICIAN and TeamMembership.objects.filter(team_id=pk, user=user).exists()
            )
        team = CareTeam.objects.filter(pk=pk).first() if allowed else None
        if team is None:
            raise exceptions.NotFound(f"Group/{team_id} is not known")
        return team


class GroupReadView(ExportKickOffView):
    """Group/{team}: the care team as the Group a Bulk export runs on (its patients as
    members), for the same callers as the export."""

    def get(self, request, team_id: str):
        team = self.team_for(team_id)
        patient_ids = [
            str(pk)
            for pk in Patient.objects.filter(care_team=team).order_by("pk").values_list("pk", flat=True)
        ]
        self.audit(*patient_ids)
        return fhir_response(
            validate(
                {
                    "resourceType": "Group",
                    "id": str(team.pk),
                    "type": "person",
                    "actual": True,
                    "name": team.name,
                    "quantity": len(patient_ids),
                    "member": [{"entity": {"reference": f"Patient/{pk}"}} for pk in patient_ids],
                }
            )
        )


class ExportStatusView(FhirView):
    def export_for(self, export_id: str) -> BulkExport:
        export = BulkExport.objects.filter(pk=parse_id(export_id), requested_by=self.request.user).first()
        if export is None or export.status == Status.CANCELLED or bulk.is_expired(export):
            raise exceptions.NotFound("no such export (it may have been cancelled or have expired)")
        return export

    def get(self, request, export_id: str):
        export = self.export_for(export_id)
        if export.status in (Status.ACCEPTED, Status.IN_PROGRESS):
            response = fhir_response(
                operation_outcome("informational", "in progress", severity="information"), 202
            )
            response["X-Progress"] = export.progress or "queued"
            response["Retry-After"] = "2"
            return response
        if export.status == Status.FAILED:
            return fhir_response(
                operation_outcome("exception", "; ".join(export.errors) or "export failed"), 500
            )
        manifest = {
            "transactionTime": export.transaction_time.isoformat(),
            "request": export.request_url,
            "requiresAccessToken": True,
            "output": [file_entry(export, item) for item in export.output if not item.get("error")],
            "error": [file_entry(export, item) for item in export.output if item.get("error")],
        }
        response = JsonResponse(manifest)
        response["Expires"] = export.expires_at.strftime("%a, %d %b %Y %H:%M:%S GMT")
        return response

    def delete(self, request, export_id: str):
        bulk.cancel_export(export=self.export_for(export_id))
        return fhir_response(
            operation_outcome("informational", "export cancelled", severity="information"), 202
        )


class ExportFileView(ExportStatusView):
    def get(self, request, export_id: str, resource_type: str):
        export = self.export_for(export_id)
        item = next((i for i in export.output if i["type"] == resource_type), None)
        if export.status != Status.COMPLETED or item is None:
            raise exceptions.NotFound("no such file")
        # Streamed from storage in chunks.
        return FileResponse(default_storage.open(item["name"], "rb"), content_type="application/fhir+ndjson")

    def delete(self, request, export_id: str, resource_type: str):
        raise exceptions.MethodNotAllowed("DELETE")


@extend_schema(exclude=True)
@method_decorator(csrf_exempt, name="dispatch")
class TokenView(APIView):
    """POST /fhir/auth/token (SMART Backend Services, client_credentials)."""

    permission_classes = [AllowAny]
    authentication_classes = []
    parser_classes = [FormParser]
    renderer_classes = [JSONRenderer]
    throttle_classes = [AddressRateThrottle]

    def post(self, request):
        try:
            body = issue_token(form={k: request.data.get(k, "") for k in request.data})
        except TokenError as exc:
            return Response(
                {"error": exc.error, "error_description": exc.description}, status=exc.status_code
            )
        return Response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@extend_schema(exclude=True)
class SmartConfigurationView(APIView):
    """/.well-known/smart-configuration: where to get a token and how (SMART App Launch 2)."""

    permission_classes = [AllowAny]
    authentication_classes = []
    renderer_classes = [JSONRenderer]

    def get(self, request):
        return Response(
            {
                "token_endpoint": token_url(),
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
                "scopes_supported": ["system/*.read", "system/*.rs"],
                "capabilities": ["client-confidential-asymmetric"],
            }
        )
