"""Print the demo clinicians' current sign-in code, for a newcomer without an
authenticator app at hand (local demo only: the key is published in the README)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import TOTP

from alerts.management.commands.seed_demo import DEMO_TOTP_SECRET, demo_totp_key_hex


class Command(BaseCommand):
    help = "Print the current TOTP code of the demo clinicians (DJANGO_DEBUG=true only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("The demo key exists only in the local demo (DJANGO_DEBUG=true).")
        totp = TOTP(bytes.fromhex(demo_totp_key_hex()))
        totp.time = time.time()
        left = 30 - int(totp.time) % 30
        self.stdout.write(f"{totp.token():06d}  (key {DEMO_TOTP_SECRET}; valid for {left} more seconds)")
