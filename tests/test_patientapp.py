"""The patient app's shell as the server serves it: page, manifest, service worker and
strings; and its budgets (bytes, origins). What it does in a browser is in
tests/test_patientapp_browser.py."""

from __future__ import annotations

import re

import pytest

from patientapp.strings import STRINGS
from patientapp.views import SHELL_DIR, STATIC_ROOT, shell_files

BUDGET_BYTES = 150 * 1024  # issue 9: the shell's JavaScript and CSS, uncompressed, in all
# XML namespaces are names, not requests.
NAMESPACES = {
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/1998/Math/MathML",
}


def test_the_shell_javascript_and_css_stay_under_150_kb():
    sizes = {
        name: (STATIC_ROOT / name).stat().st_size
        for name in shell_files()
        if name.endswith((".js", ".mjs", ".css"))
    }

    assert sum(sizes.values()) < BUDGET_BYTES, sorted(sizes.items(), key=lambda item: -item[1])[:5]
    assert any(name.endswith("app.js") for name in sizes)


def test_nothing_in_the_shell_is_loaded_from_another_origin(client):
    page = client.get("/app/").content.decode()
    sources = [page] + [
        (STATIC_ROOT / name).read_text() for name in shell_files() if not name.endswith(".png")
    ]

    urls = {url for source in sources for url in re.findall(r"https?://[^\s\"'`)<>]+", source)}

    assert urls <= NAMESPACES


def test_the_shell_page_maps_preact_to_the_vendored_copy_and_links_the_manifest(client):
    response = client.get("/app/")

    assert response.status_code == 200
    page = response.content.decode()
    assert '"preact": "/static/patientapp/vendor/preact-10.29.8/preact.module.js"' in page
    assert '<link rel="manifest" href="/app/manifest.webmanifest">' in page
    assert 'type="module" src="/static/patientapp/js/app.js"' in page


def test_the_manifest_makes_the_app_installable(client):
    response = client.get("/app/manifest.webmanifest")

    manifest = response.json()
    assert response["Content-Type"] == "application/manifest+json"
    assert (manifest["start_url"], manifest["scope"], manifest["display"]) == ("/app/", "/app/", "standalone")
    assert {icon["sizes"] for icon in manifest["icons"]} >= {"192x192", "512x512"}
    for icon in manifest["icons"]:
        assert (STATIC_ROOT / icon["src"].removeprefix("/static/")).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_service_worker_covers_app_and_keeps_the_shell_but_no_api_answer(client):
    response = client.get("/app/sw.js")

    script = response.content.decode()
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Cache-Control"] == "no-cache"
    shell = re.search(r"const SHELL = (\[.*?\]);", script).group(1)
    assert '"/app/"' in shell
    assert '"/static/patientapp/js/app.js"' in shell
    assert "/api/" not in shell
    assert 'url.pathname.startsWith("/api/")) return' in script


def test_the_page_and_its_service_worker_name_one_shell_version(client):
    page = client.get("/app/").content.decode()
    script = client.get("/app/sw.js").content.decode()

    version = re.search(r'data-version="([0-9a-f]{16})"', page).group(1)
    assert f'const VERSION = "{version}";' in script


@pytest.mark.parametrize("language", ["en", "it"])
def test_every_app_string_is_served_in_both_languages(client, language):
    strings = client.get(f"/app/i18n/{language}.json").json()

    assert set(strings) == set(STRINGS)
    assert strings["n_waiting"] == {"en": "%(n)s waiting", "it": "%(n)s in attesa"}[language]


def test_the_italian_strings_are_translated_not_copied(client):
    english = client.get("/app/i18n/en.json").json()
    italian = client.get("/app/i18n/it.json").json()

    same = sorted(key for key in english if english[key] == italian[key])
    assert same == ["caregiver", "dose", "password"]  # the same word in both languages


def test_every_string_the_javascript_asks_for_exists():
    asked = set()
    for path in SHELL_DIR.rglob("*.js"):
        if "vendor" in path.parts:
            continue
        asked |= set(re.findall(r"\bt\(\"([a-z0-9_]+)\"", path.read_text()))
    prefixes = {key for key in asked if key.endswith("_")}  # t("severity_" + code) and the like

    assert asked - prefixes - set(STRINGS) == set()
    assert all(any(key.startswith(prefix) for key in STRINGS) for prefix in prefixes)


def test_an_unknown_language_is_a_404(client):
    assert client.get("/app/i18n/de.json").status_code == 404
