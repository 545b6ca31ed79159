"""teams/{id}/fhir-endpoint/: where a team's referral recommendations are pushed."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.errors import ERROR_RESPONSES
from care.access import IsClinician
from care.models import CareTeam, TeamRole
from interop import services
from interop.models import FhirEndpoint
from interop.serializers import FhirEndpointSerializer


class FhirEndpointView(APIView):
    """The team's FHIR endpoint for referral notifications (team administrators)."""

    permission_classes = [IsClinician]

    def get_team(self, team_id) -> CareTeam:
        team = get_object_or_404(CareTeam.objects.filter(memberships__user=self.request.user), pk=team_id)
        if not self.request.user.memberships.filter(team=team, team_role=TeamRole.TEAM_ADMIN).exists():
            raise PermissionDenied
        return team

    @extend_schema(responses={200: FhirEndpointSerializer, **ERROR_RESPONSES})
    def get(self, request, team_id):
        team = self.get_team(team_id)
        endpoint = FhirEndpoint.objects.filter(team=team).first() or FhirEndpoint(team=team, enabled=False)
        return Response(FhirEndpointSerializer(endpoint).data)

    @extend_schema(request=FhirEndpointSerializer, responses={200: FhirEndpointSerializer, **ERROR_RESPONSES})
    def put(self, request, team_id):
        team = self.get_team(team_id)
        serializer = FhirEndpointSerializer(FhirEndpoint.objects.filter(team=team).first(), data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.save_fhir_endpoint(team=team, data=serializer.validated_data)
        return Response(FhirEndpointSerializer(endpoint).data)
