from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.utils.translation import gettext as _
from rest_framework import serializers

from interop.models import FhirEndpoint


class FhirEndpointSerializer(serializers.ModelSerializer):
    # null while the team has registered none.
    url = serializers.URLField(max_length=500, allow_null=True)
    # Write-only: the signing secret is never read back.
    secret = serializers.CharField(min_length=16, max_length=200, write_only=True)
    has_secret = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = FhirEndpoint
        fields = ["url", "secret", "has_secret", "enabled", "events_sent", "updated_at"]
        read_only_fields = ["events_sent", "updated_at"]

    def get_has_secret(self, endpoint: FhirEndpoint) -> bool:
        return bool(endpoint.secret)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["url"] = data["url"] or None
        return data

    def validate_url(self, url: str | None) -> str:
        """https, and not an address that is plainly private. The address a name resolves
        to is checked again at every send (backend/outbound.py)."""
        if not url:
            raise serializers.ValidationError(_("The FHIR endpoint must be an https URL."))
        parts = urlsplit(url)
        if parts.scheme != "https":
            raise serializers.ValidationError(_("The FHIR endpoint must be an https URL."))
        try:
            address = ipaddress.ip_address((parts.hostname or "").strip("[]"))
        except ValueError:
            address = None
        if (address is not None and not address.is_global) or (parts.hostname or "").lower() == "localhost":
            raise serializers.ValidationError(_("The FHIR endpoint must be a public address."))
        return url
