"""Every user-facing string of the project has its Italian translation (SPEC: English and
Italian complete from the start). Runs Django's makemessages on a copy of the sources, so
a string added without its translation fails here, not in front of a patient."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parent.parent
APPS = ("backend", "care", "diary", "alerts", "clinic", "privacy", "patientapp", "interop")

pytestmark = pytest.mark.skipif(
    shutil.which("xgettext") is None and not IN_CI,
    reason="GNU gettext (xgettext) is not installed here (.ci/run installs it)",
)


def test_every_marked_string_has_a_finished_italian_translation(tmp_path):
    for app in APPS:
        shutil.copytree(
            ROOT / app, tmp_path / app, ignore=shutil.ignore_patterns("__pycache__", "migrations")
        )
    shutil.copytree(ROOT / "locale", tmp_path / "locale")
    shutil.copy(ROOT / "manage.py", tmp_path / "manage.py")
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "it", "--no-location"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "DJANGO_DEBUG": "true", "DJANGO_SETTINGS_MODULE": "backend.settings"},
    )
    po = polib.pofile(str(tmp_path / "locale/it/LC_MESSAGES/django.po"))
    unfinished = [entry.msgid for entry in po if not entry.translated() or "fuzzy" in entry.flags]
    assert unfinished == [], "translate these in locale/it/LC_MESSAGES/django.po"
