"""Make the demo's VAPID key once (var/, never committed); production sets its own."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from care.vapid import generate_private_key, public_key


class Command(BaseCommand):
    help = "Create the Web Push (VAPID) key file named by WEBPUSH_VAPID_PRIVATE_KEY_FILE if it is missing."

    def handle(self, *args, **options):
        if settings.WEBPUSH_VAPID_PRIVATE_KEY:
            self.stdout.write("WEBPUSH_VAPID_PRIVATE_KEY is set: nothing to do.")
            return
        if not settings.WEBPUSH_VAPID_PRIVATE_KEY_FILE:
            raise CommandError("Set WEBPUSH_VAPID_PRIVATE_KEY or WEBPUSH_VAPID_PRIVATE_KEY_FILE.")
        path = Path(settings.WEBPUSH_VAPID_PRIVATE_KEY_FILE)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Created readable by its owner only: it signs every push this server sends.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as key_file:
                key_file.write(generate_private_key() + "\n")
        self.stdout.write(f"Web Push key in {path}; public key {public_key()}")
