"""System checks guarding invariants the product depends on."""

from django.conf import settings
from django.core.checks import Error, register


@register()
def crossroad_invariants(app_configs, **kwargs):
    errors = []
    if not settings.USE_TZ or settings.TIME_ZONE != "UTC":
        errors.append(
            Error("Crossroad stores UTC: set USE_TZ = True and TIME_ZONE = 'UTC'.", id="crossroad.E001")
        )
    if not settings.LOCALE_PATHS:
        errors.append(Error("LOCALE_PATHS must name the project's locale/ folder.", id="crossroad.E002"))
    if not settings.CELERY_TASK_ALWAYS_EAGER and not settings.CELERY_BROKER_URL:
        errors.append(Error("Set CELERY_BROKER_URL, or CELERY_TASK_ALWAYS_EAGER=true.", id="crossroad.E003"))
    return errors
