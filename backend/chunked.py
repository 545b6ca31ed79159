"""Request bodies sent with `Transfer-Encoding: chunked` and no Content-Length.

Django reads at most CONTENT_LENGTH bytes of a body, so without one it reads none: a
phone's chunked sync got 200 `{"results": []}` and believed its records stored (issue 8,
item 12). Where the server has already removed the chunking and ends the stream at the
end of the body (`wsgi.input_terminated`, PEP 3333's extension that gunicorn and mod_wsgi
set), the body is read here, up to MAX_REQUEST_BODY_BYTES, and handed on with its length;
elsewhere it is refused with 411 Length Required, never silently empty.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable

from django.conf import settings


def _is_chunked(environ: dict) -> bool:
    encodings = environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    return "chunked" in encodings and not environ.get("CONTENT_LENGTH")


def _refuse(start_response: Callable, status: str, detail: str) -> Iterable[bytes]:
    body = json.dumps({"detail": detail}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class ChunkedBodies:
    """WSGI middleware: before Django, so the request it builds has the whole body."""

    def __init__(self, application: Callable):
        self.application = application

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if _is_chunked(environ):
            if not environ.get("wsgi.input_terminated"):
                return _refuse(start_response, "411 Length Required", "Send a Content-Length header.")
            limit = settings.MAX_REQUEST_BODY_BYTES
            body = environ["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                return _refuse(
                    start_response, "413 Request Entity Too Large", "The request body is too large."
                )
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.application(environ, start_response)
