from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from care.models import CareTeam
from interop import services
from interop.jwks import JwksError, parse_jwks


class Command(BaseCommand):
    help = (
        "Register (or update) a FHIR Bulk Data system client (SMART Backend Services) for the "
        "care team(s); prints `client_id: <id>` last."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--team", required=True, action="append", help="care team name; repeat for several"
        )
        keys = parser.add_mutually_exclusive_group(required=True)
        keys.add_argument("--jwks-url", help="https URL of the client's JWKS (read when it asks for a token)")
        keys.add_argument("--jwks-file", help="a file holding the client's public JWKS")

    def handle(self, *args, name, team, jwks_url, jwks_file, **options):
        teams = list(CareTeam.objects.filter(name__in=team))
        missing = sorted(set(team) - {t.name for t in teams})
        if missing:
            raise CommandError(f"no care team named {', '.join(missing)}")
        jwks: dict = {}
        if jwks_file:
            try:
                jwks = parse_jwks(Path(jwks_file).read_bytes())
            except (OSError, JwksError) as exc:
                raise CommandError(f"cannot use {jwks_file}: {exc}") from exc
        elif not jwks_url.startswith("https://"):
            raise CommandError("--jwks-url must be https")
        client = services.register_system_client(name=name, teams=teams, jwks=jwks, jwks_url=jwks_url or "")
        self.stdout.write(f"System client “{client.name}” may export {', '.join(t.name for t in teams)}.")
        self.stdout.write(f"client_id: {client.pk}")
