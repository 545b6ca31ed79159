"""GET /api/v1/catalog/: the diary's codes with labels in the request's language."""

from __future__ import annotations

from django.utils.cache import patch_cache_control, patch_vary_headers
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from diary.catalog import catalog_payload

# The catalog changes only with a deploy; an hour keeps phones from refetching it on every screen.
CATALOG_MAX_AGE_SECONDS = 60 * 60


def _items(name: str, **extra: serializers.Field) -> serializers.ListSerializer:
    fields = {"code": serializers.CharField(), "label": serializers.CharField(), **extra}
    return inline_serializer(name=name, fields=fields, many=True)


def _scale() -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=["nrs", "grade"])


def _range(name: str, **extra: serializers.Field) -> serializers.Serializer:
    fields = {"min": serializers.IntegerField(), "max": serializers.IntegerField(), **extra}
    return inline_serializer(name=name, fields=fields)


_CATALOG_SCHEMA = inline_serializer(
    name="Catalog",
    fields={
        "symptoms": _items(
            "CatalogSymptom",
            scale=_scale(),
            loinc=serializers.CharField(allow_null=True),
            clusters=serializers.ListField(child=serializers.CharField()),
        ),
        "clusters": _items("CatalogCluster", members=serializers.ListField(child=serializers.CharField())),
        "adverse_effects": _items("CatalogAdverseEffect", scale=_scale()),
        "neuropathic_descriptors": _items("CatalogNeuropathicDescriptor"),
        "pain_sites": _items("CatalogPainSite"),
        "red_flags": _items("CatalogRedFlag", concern=serializers.CharField()),
        "safety_message": serializers.CharField(
            help_text="The text a red-flag check-in answers with, in the same language."
        ),
        "emergency_number": serializers.CharField(help_text="The number the safety message asks to call."),
        "drugs": _items(
            "CatalogDrug",
            # A plain string: an enum here would collide with the medication dose's `kind` enum.
            kind=serializers.CharField(help_text="`opioid` or `adjuvant`"),
            routes=serializers.ListField(child=serializers.CharField()),
            units=serializers.ListField(child=serializers.CharField()),
        ),
        "routes": _items("CatalogRoute"),
        "interference_items": _items("CatalogInterferenceItem", scale=_scale()),
        "scales": inline_serializer(
            name="CatalogScales",
            fields={
                "nrs": _range("CatalogNrsScale"),
                "grade": _range(
                    "CatalogGradeScale",
                    levels=inline_serializer(
                        name="CatalogGradeLevel",
                        fields={"value": serializers.IntegerField(), "label": serializers.CharField()},
                        many=True,
                    ),
                ),
            },
        ),
    },
)


class CatalogView(APIView):
    # Public reference data: the phone needs it before anyone has logged in.
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        operation_id="catalog",
        summary="Diary catalog",
        description="Codes, labels (in the Accept-Language language), scales, clusters and LOINC codes.",
        responses={200: _CATALOG_SCHEMA},
        tags=["catalog"],
    )
    def get(self, request: Request) -> Response:
        response = Response(catalog_payload())
        # LocaleMiddleware adds Vary too; said here as well because the body depends on it.
        patch_vary_headers(response, ("Accept-Language",))
        patch_cache_control(response, public=True, max_age=CATALOG_MAX_AGE_SECONDS)
        return response
