"""Crossroad settings: one module, every value from the environment, loud when unsafe.

The defaults give the embedded demo (SQLite, a file-system Celery broker); production sets
DATABASE_URL, CELERY_BROKER_URL, CACHE_URL, DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS.
"""

from __future__ import annotations

import secrets
import sys
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
# Commands that only read the code (no request is signed) run without a key.
_KEYLESS_COMMANDS = {
    "makemigrations",
    "check",
    "makemessages",
    "compilemessages",
    "spectacular",
    "showmigrations",
}
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = "insecure-local-demo-key-never-use-in-production-0123456789"  # noqa: S105
    elif len(sys.argv) > 1 and Path(sys.argv[0]).name == "manage.py" and sys.argv[1] in _KEYLESS_COMMANDS:
        SECRET_KEY = secrets.token_urlsafe(50)
    else:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (or DJANGO_DEBUG=true for a local demo).")

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_htmx",
    "template_partials",
    "care",
    "diary",
    "alerts",
    "clinic",
    "privacy",
    "backend",  # the worker heartbeat (backend/models.py)
    "patientapp",
    "interop",
]

MIDDLEWARE = [
    "backend.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "clinic.middleware.ClinicIdleTimeoutMiddleware",
    "clinic.middleware.ClinicLanguageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "clinic.middleware.ClinicHeadersMiddleware",
]

ROOT_URLCONF = "backend.urls"
WSGI_APPLICATION = "backend.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "clinic.context.clinic_nav",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"].endswith("RedisCache"):
    # The login throttle lets requests through when the cache fails (care/lockout.py); a
    # Redis that hangs instead of refusing must fail fast too.
    CACHES["default"].setdefault("OPTIONS", {}).update({"socket_connect_timeout": 1, "socket_timeout": 1})

AUTH_USER_MODEL = "care.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("it", _("Italian"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Bodies above this answer 413 before any parsing (a sync of 500 full records fits).
MAX_REQUEST_BODY_BYTES = env.int("MAX_REQUEST_BODY_BYTES", default=4 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
# Arrays and objects nested deeper than this answer 400 (backend/parsers.py); real bodies
# nest five levels.
MAX_JSON_DEPTH = env.int("MAX_JSON_DEPTH", default=32)

LOGIN_URL = "clinic:login"
LOGIN_REDIRECT_URL = "clinic:triage"

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG and env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# HSTS outside debugging: a browser that once reached the clinic over https never sends
# its 14-day session over plain http again. A year, Django's deploy check's advice;
# subdomains and preloading are the operator's decision (other services may live there).
SECURE_HSTS_SECONDS = 0 if DEBUG else env.int("DJANGO_HSTS_SECONDS", default=365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = False
# Behind a TLS-terminating proxy (TRUSTED_PROXY_COUNT > 0) the request is https when the
# proxy says so; the proxy must overwrite this header, never pass a client's through.
if env.int("TRUSTED_PROXY_COUNT", default=0) > 0:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SSL_REDIRECT", default=False)  # usually the proxy's job
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain http

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "backend.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["backend.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "backend.pagination.CursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "backend.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"auth": env.str("AUTH_THROTTLE_RATE", default="30/min")},
    # Client address = the connection's, unless a trusted proxy count is configured.
    "NUM_PROXIES": env.int("TRUSTED_PROXY_COUNT", default=0),
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=5)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=30)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    # Tokens carry a digest of the password hash: a password change kills every token.
    "CHECK_REVOKE_TOKEN": True,
    "LEEWAY": 0,
    "USER_ID_FIELD": "id",
}

# The clinician workspace (SPEC "The clinician workspace"). Two-factor sign-in is off
# only in the `make run` demo (the Makefile's DEMO_ENV).
CLINIC_REQUIRE_2FA = env.bool("CLINIC_REQUIRE_2FA", default=True)
CLINIC_IDLE_MINUTES = env.int("CLINIC_IDLE_MINUTES", default=15)
# The triage page asks for its rows again this often (SPEC: a new alert within 30 s).
CLINIC_POLL_SECONDS = env.int("CLINIC_POLL_SECONDS", default=15)
OTP_TOTP_ISSUER = "Crossroad"
# Clinic pages only (clinic.middleware.ClinicHeadersMiddleware): scripts and styles from
# our own static files, no inline script, never framed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Login protection (SPEC "Access and sessions").
LOGIN_MAX_FAILURES = env.int("LOGIN_MAX_FAILURES", default=5)
LOGIN_LOCKOUT = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
# On withdrawal of consent: "pseudonymize" keeps the diary's clinical values without
# identifying data (retention for the clinical record); "delete" removes them too.
ERASURE_MODE = env.str("ERASURE_MODE", default="pseudonymize")
if ERASURE_MODE not in ("pseudonymize", "delete"):
    raise ImproperlyConfigured("ERASURE_MODE must be 'pseudonymize' or 'delete'.")
# The emergency number the patient app dials from a red flag's safety message.
EMERGENCY_NUMBER = env.str("EMERGENCY_NUMBER", default="112")
INVITE_LIFETIME = timedelta(days=env.int("INVITE_LIFETIME_DAYS", default=7))

SPECTACULAR_SETTINGS = {
    "TITLE": "Crossroad API",
    "DESCRIPTION": "Patient-reported outcomes for cancer pain: diary, alerts and referrals.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "UserRoleEnum": "care.models.Role",
        "InvitedRoleEnum": ["patient", "caregiver"],
        "RecordStatusEnum": "diary.models.RecordStatus",
        # A referral's four statuses, and the two the triage row can show: distinct names,
        # or one enum would document both with the triage row's two values.
        "ReferralStatusEnum": "alerts.models.ReferralRecommendation.Status",
        "TriageReferralStatusEnum": ["suggested", "accepted"],
        "AlertStatusEnum": "alerts.models.Alert.Status",
    },
    # Every operation documents the error bodies of API.md "Errors" (401, 403, 404, 413, ...).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "backend.errors.document_error_responses",
    ],
}

# Celery. The embedded default is a real worker on a file-system transport (no server to
# install); production points CELERY_BROKER_URL at Redis.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = BASE_DIR / "var" / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(BASE_DIR / "var" / "broker-processed"),
        "store_processed": False,
        # kombu keeps its exchange table here; its default is ./control, in the checkout.
        "control_folder": str(BASE_DIR / "var" / "broker-control"),
    }
else:
    # A task must be acknowledged within this many seconds or Redis hands it out again.
    # "sorted": a worker takes from its queues in the order of their names, so the urgent
    # queue ("alerts-urgent") is emptied before "celery" and "celery" before "clock"
    # (kombu's default visits them in turn).
    # "max_retries": 0: a publish to a broker that is down fails at once instead of
    # retrying to connect for CELERY_BROKER_CONNECTION_TIMEOUT (2 s of a patient's post):
    # the work is a row already, and alerts.dispatch's breaker skips the broker a while.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 300,
        "queue_order_strategy": "sorted",
        "max_retries": 0,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Three queues, which a worker consumes in this order unless told otherwise (`-Q
# alerts-urgent`, `-Q celery,clock` split them over workers): a red flag's evaluation and an
# urgent alert's notifications (alerts.dispatch.URGENT_QUEUE); the rest of the evaluations
# and deliveries; the hourly run's chunks, so that nothing waits behind them.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (
    Queue("alerts-urgent", routing_key="alerts-urgent"),
    Queue("celery", routing_key="celery"),
    Queue("clock", routing_key="clock"),
)
# A worker process reserves one message at a time: an urgent one published while it works
# goes to the next free process, not behind messages it already holds.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ROUTES = {"alerts.tasks.evaluate_scheduled_chunk": {"queue": "clock"}}
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 30
CELERY_TASK_TIME_LIMIT = 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# With late acks, a task running when the broker connection drops is redelivered anyway:
# cancel it rather than let two copies run (Celery's own recommendation).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY = False
# Modules with tasks outside the apps' tasks.py (autodiscovery finds only those).
CELERY_IMPORTS = ["backend.heartbeat"]
# The worker heartbeat (backend/heartbeat.py): beat queues one every interval; /healthz
# answers 503 naming "worker" when the last one ran longer ago than the threshold (a few
# intervals, so one slow beat is not an outage).
HEARTBEAT_INTERVAL_SECONDS = env.float("HEARTBEAT_INTERVAL_SECONDS", default=30.0)
HEARTBEAT_STALE_SECONDS = env.int("HEARTBEAT_STALE_SECONDS", default=180)
# Fixed jobs live here, in review, not in database tables. No long countdowns or ETAs in
# the broker: due times (escalations, retries) live in the database and sweeps read them.
CELERY_BEAT_SCHEDULE: dict = {
    "heartbeat": {"task": "backend.heartbeat.beat", "schedule": HEARTBEAT_INTERVAL_SECONDS},
    "sweep-outbox": {"task": "alerts.tasks.sweep_outbox", "schedule": 30.0},
    "sweep-evaluations": {"task": "alerts.tasks.sweep_evaluations", "schedule": 30.0},
    "escalate-due": {"task": "alerts.tasks.escalate_due", "schedule": 30.0},
    # Hourly rules: the tick is frequent, the run once an hour (alerts.schedule.ClockRun).
    "evaluate-scheduled-rules": {"task": "alerts.tasks.evaluate_scheduled_rules", "schedule": 300.0},
    "send-reminders": {"task": "alerts.tasks.send_reminders", "schedule": 600.0},
    # Hourly: each team gets its digest in the hour its own clock shows its digest_hour.
    "send-daily-digests": {"task": "alerts.tasks.send_daily_digests", "schedule": 3600.0},
    "purge-expired-exports": {"task": "interop.tasks.purge_expired_exports", "schedule": 3600.0},
}

# Alerts, escalation and notifications (SPEC "Alerts, escalation, notifications").
ALERT_COOLDOWN_HOURS = env.int("ALERT_COOLDOWN_HOURS", default=72)
ESCALATION_DEFAULT_MINUTES = {"urgent": 15, "warning": 240}
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=5)
# A row left in "sending" this long was abandoned by a dead worker and is claimed again:
# just above the task's hard time limit, so a live delivery is never claimed twice.
NOTIFICATION_CLAIM_TIMEOUT_SECONDS = env.int("NOTIFICATION_CLAIM_TIMEOUT_SECONDS", default=75)
NOTIFICATION_SWEEP_GRACE_SECONDS = env.int("NOTIFICATION_SWEEP_GRACE_SECONDS", default=15)
CHANNEL_TIMEOUT_SECONDS = env.int("CHANNEL_TIMEOUT_SECONDS", default=10)
# Outbound requests (backend/outbound.py) go to public https addresses only. Tests set
# this to reach their receivers on 127.0.0.1 (over http too); check --deploy warns of it.
OUTBOUND_ALLOW_LOOPBACK = env.bool("OUTBOUND_ALLOW_LOOPBACK", default=False)
PUBLIC_URL = env.str("PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")
# Push: the console in development; in production PUSH_TRANSPORT=
# alerts.channels.PlatformPushTransport routes each device to its platform's provider.
PUSH_TRANSPORT = env.str("PUSH_TRANSPORT", default="alerts.channels.ConsolePushTransport")
PUSH_TRANSPORTS = {
    "fcm": env.str("PUSH_FCM_TRANSPORT", default="alerts.channels.FcmPushTransport"),
    "apns": env.str("PUSH_APNS_TRANSPORT", default="alerts.channels.ApnsPushTransport"),
    "webpush": env.str("PUSH_WEBPUSH_TRANSPORT", default="alerts.webpush.WebPushTransport"),
}
# Web Push (VAPID): the private key in the environment, or a file; the demo makes one in var/.
WEBPUSH_VAPID_PRIVATE_KEY = env.str("WEBPUSH_VAPID_PRIVATE_KEY", default="")
WEBPUSH_VAPID_PRIVATE_KEY_FILE = env.str(
    "WEBPUSH_VAPID_PRIVATE_KEY_FILE", default=str(BASE_DIR / "var" / "webpush-vapid.key") if DEBUG else ""
)
WEBPUSH_VAPID_SUBJECT = env.str("WEBPUSH_VAPID_SUBJECT", default="")  # mailto: or https: of the operator
# Tests only: a push service served on loopback over http (never in production).
WEBPUSH_ALLOW_LOOPBACK = env.bool("WEBPUSH_ALLOW_LOOPBACK", default=False)
FCM_PROJECT_ID = env.str("FCM_PROJECT_ID", default="")
FCM_SERVICE_ACCOUNT_FILE = env.str("FCM_SERVICE_ACCOUNT_FILE", default="")
APNS_TEAM_ID = env.str("APNS_TEAM_ID", default="")
APNS_KEY_ID = env.str("APNS_KEY_ID", default="")
APNS_PRIVATE_KEY_FILE = env.str("APNS_PRIVATE_KEY_FILE", default="")
APNS_TOPIC = env.str("APNS_TOPIC", default="")  # the app's bundle id
APNS_USE_SANDBOX = env.bool("APNS_USE_SANDBOX", default=False)

# FHIR (SPEC "Hospital interoperability"). System clients' access tokens are short-lived
# (SMART Backend Services recommends five minutes); Bulk Data files are deleted after
# BULK_EXPORT_RETENTION_HOURS.
SYSTEM_TOKEN_LIFETIME_SECONDS = env.int("SYSTEM_TOKEN_LIFETIME_SECONDS", default=300)
BULK_EXPORT_RETENTION_HOURS = env.int("BULK_EXPORT_RETENTION_HOURS", default=24)
BULK_EXPORT_TIME_LIMIT_SECONDS = env.int("BULK_EXPORT_TIME_LIMIT_SECONDS", default=3600)
BULK_EXPORT_HEARTBEAT_TIMEOUT_SECONDS = env.int("BULK_EXPORT_HEARTBEAT_TIMEOUT_SECONDS", default=600)
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="crossroad@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Request logs carry URLs only, never bodies: diary notes are health data.
    "loggers": {"django.request": {"level": "ERROR"}},
}
