"""System checks guarding invariants the product depends on."""

from django.conf import settings
from django.core import checks
from django.core.checks import Error, register

from care.vapid import PushNotConfigured, vapid


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


# The embedded demo's stand-ins, each fine on a laptop and silent harm in production.
DEMO_DEFAULTS = (
    (
        lambda: settings.EMAIL_BACKEND.endswith("console.EmailBackend"),
        "Alert emails go to the console (set EMAIL_URL).",
    ),
    (
        lambda: settings.PUSH_TRANSPORT.endswith("ConsolePushTransport"),
        "Push notifications go to the log (set PUSH_TRANSPORT).",
    ),
    (
        lambda: settings.CELERY_BROKER_URL.startswith("filesystem://"),
        "The Celery broker is the demo's file-system transport (set CELERY_BROKER_URL to Redis).",
    ),
    (
        lambda: settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"),
        "Login throttling counts per process (set CACHE_URL to Redis).",
    ),
    (
        lambda: settings.OUTBOUND_ALLOW_LOOPBACK,
        "Webhooks may reach 127.0.0.1, over plain http too (OUTBOUND_ALLOW_LOOPBACK is for tests).",
    ),
    (
        lambda: not settings.CLINIC_REQUIRE_2FA,
        "Clinicians may sign in to /clinic/ with a password alone (set CLINIC_REQUIRE_2FA=true).",
    ),
    (
        lambda: not web_push_key_configured(),
        "The patient app cannot turn on reminders: no Web Push key "
        "(set WEBPUSH_VAPID_PRIVATE_KEY or WEBPUSH_VAPID_PRIVATE_KEY_FILE).",
    ),
)


def web_push_key_configured() -> bool:

    try:
        vapid()
    except (PushNotConfigured, ValueError):  # missing, or not a P-256 key
        return False
    return True


@register(deploy=True)
def crossroad_deploy(app_configs, **kwargs):
    """`manage.py check --deploy`: the demo defaults must not reach production."""
    return [
        checks.Warning(message, id=f"crossroad.W{n:03d}")
        for n, (applies, message) in enumerate(DEMO_DEFAULTS, start=1)
        if applies()
    ]
