"""`manage.py check --deploy` names every demo stand-in left in a production config."""

from __future__ import annotations

from care.checks import crossroad_deploy
from tests.conftest import TEST_VAPID_KEY


def test_the_demo_defaults_are_named_and_a_production_config_is_clean(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    settings.PUSH_TRANSPORT = "alerts.channels.ConsolePushTransport"
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.WEBPUSH_VAPID_PRIVATE_KEY = ""
    settings.WEBPUSH_VAPID_PRIVATE_KEY_FILE = ""
    # W005 (loopback webhooks) and W006 (no second factor) are off in this configuration.
    assert [w.id for w in crossroad_deploy(None)] == [f"crossroad.W00{n}" for n in (1, 2, 3, 4, 7)]

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.PUSH_TRANSPORT = "alerts.channels.PlatformPushTransport"
    settings.CELERY_BROKER_URL = "redis://redis:6379/0"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    settings.WEBPUSH_VAPID_PRIVATE_KEY = TEST_VAPID_KEY
    assert crossroad_deploy(None) == []
