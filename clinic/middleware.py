"""What every clinic page shares: the idle timeout, the user's own language, and headers
that keep health data out of frames, other origins' scripts and the browser's cache."""

from __future__ import annotations

import time
import zoneinfo

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.shortcuts import redirect
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_htmx.http import HttpResponseClientRedirect

PREFIX = "/clinic/"
LAST_SEEN = "clinic_last_seen"
# The triage page's self-refresh sends this; it is not the user's activity.
POLL_PARAMETER = "poll"


def is_clinic(request) -> bool:
    return request.path_info.startswith(PREFIX)


class ClinicIdleTimeoutMiddleware:
    """A browser session unused for CLINIC_IDLE_MINUTES ends (SPEC "Sign-in"): a screen
    left open on a ward must not stay signed in. The session cookie also opens the API
    (DRF's SessionAuthentication) and the admin, so the clock runs on every path; token
    clients have no session and are not concerned. Automatic polls do not count as use."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated and SESSION_KEY in request.session:
            now = time.time()
            last = request.session.get(LAST_SEEN)
            if last is not None and now - last > settings.CLINIC_IDLE_MINUTES * 60:
                logout(request)
                if is_clinic(request):
                    messages.info(request, _("You were signed out after a period of inactivity."))
                    login = redirect("clinic:login")
                    if getattr(request, "htmx", False):
                        return HttpResponseClientRedirect(login.url)
                    return login
                return self.get_response(request)  # on as nobody: the API answers 401/403
            if POLL_PARAMETER not in request.GET:
                request.session[LAST_SEEN] = now
        return self.get_response(request)


class ClinicLanguageMiddleware:
    """A signed-in clinician reads the clinic in the language and time zone of their account."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if is_clinic(request) and request.user.is_authenticated and request.user.language:
            translation.activate(request.user.language)
            request.LANGUAGE_CODE = translation.get_language()
            timezone.activate(zoneinfo.ZoneInfo(request.user.timezone or "UTC"))
            try:
                return self.get_response(request)
            finally:
                timezone.deactivate()
        return self.get_response(request)


class ClinicHeadersMiddleware(CSPMiddleware):
    """CSP (django-csp, settings.CONTENT_SECURITY_POLICY) and `Cache-Control: no-store` on
    clinic pages only: the API and the patient app set their own."""

    def process_response(self, request, response):
        if not is_clinic(request):
            return response
        response = super().process_response(request, response)
        # After logout, Back must not show the last patient from the browser's cache.
        response["Cache-Control"] = "no-store"
        return response
