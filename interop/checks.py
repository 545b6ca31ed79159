"""`manage.py check --deploy` for the interop app."""

from django.conf import settings
from django.core import checks


@checks.register(deploy=True)
def interop_deploy(app_configs, **kwargs):
    if settings.OUTBOUND_ALLOW_LOOPBACK:
        return [
            checks.Error(
                "OUTBOUND_ALLOW_LOOPBACK is for tests only: FHIR endpoints could reach this machine.",
                id="interop.E001",
            )
        ]
    return []
