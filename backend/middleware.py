from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext as _


class BodySizeLimitMiddleware:
    """413 for bodies above MAX_REQUEST_BODY_BYTES, before anything reads them.

    DRF parsers read the stream directly, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE alone
    would not stop a huge JSON body.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAX_REQUEST_BODY_BYTES:
            from django.utils import translation

            translation.activate(translation.get_language_from_request(request))
            body = {"detail": _("The request body is too large.")}
            return JsonResponse(body, status=413)
        return self.get_response(request)
