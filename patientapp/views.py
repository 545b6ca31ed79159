"""The patient app's shell: one page, its service worker, manifest and strings.

Everything else it does goes through the public API (API.md); these views serve no
patient data, so the service worker may keep them for offline use.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.utils import translation
from django.views.decorators.http import require_GET

from patientapp.strings import STRINGS

STATIC_ROOT = Path(__file__).resolve().parent / "static"
SHELL_DIR = STATIC_ROOT / "patientapp"
# Files of the shell the service worker keeps (vendored licenses and notes are not served).
SHELL_SUFFIXES = (".js", ".mjs", ".css", ".png", ".svg")


def shell_files() -> list[str]:
    return sorted(
        str(path.relative_to(STATIC_ROOT))
        for path in SHELL_DIR.rglob("*")
        if path.is_file() and path.suffix in SHELL_SUFFIXES
    )


@cache
def shell_version() -> str:
    """Changes whenever a shell file or a string changes: a new service worker, new cache."""
    digest = hashlib.sha256()
    for name in shell_files():
        digest.update(name.encode())
        digest.update((STATIC_ROOT / name).read_bytes())
    for template in ("shell.html", "sw.js"):
        digest.update((Path(__file__).parent / "templates" / "patientapp" / template).read_bytes())
    for language, _name in settings.LANGUAGES:
        digest.update(json.dumps(catalog(language), sort_keys=True).encode())
    return digest.hexdigest()[:16]


@require_GET
def shell(request: HttpRequest) -> HttpResponse:
    return render(request, "patientapp/shell.html", {"version": shell_version()})


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    urls = ["/app/", "/app/manifest.webmanifest"]
    urls += [f"/app/i18n/{code}.json" for code, _name in settings.LANGUAGES]
    urls += [static(name) for name in shell_files()]
    response = render(
        request,
        "patientapp/sw.js",
        {"version": shell_version(), "shell_urls": json.dumps(urls)},
        content_type="text/javascript",
    )
    # The browser checks for a new worker on every visit; never serve it stale.
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def manifest(request: HttpRequest) -> JsonResponse:
    icons = [
        {"src": static(f"patientapp/icons/icon-{size}.png"), "sizes": f"{size}x{size}", "type": "image/png"}
        for size in (192, 512)
    ]
    icons.append(
        {
            "src": static("patientapp/icons/icon-maskable-512.png"),
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        }
    )
    body = {
        "id": "/app/",
        "name": "Crossroad",
        "short_name": "Crossroad",
        "description": str(STRINGS["manifest_description"]),
        "start_url": "/app/",
        "scope": "/app/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": "#005eb8",
        "icons": icons,
    }
    return JsonResponse(body, content_type="application/manifest+json")


def catalog(language: str) -> dict[str, str]:
    with translation.override(language):
        return {key: str(text) for key, text in STRINGS.items()}


@require_GET
def strings(request: HttpRequest, language: str) -> JsonResponse:
    if language not in dict(settings.LANGUAGES):
        raise Http404
    return JsonResponse(catalog(language), json_dumps_params={"ensure_ascii": False})
