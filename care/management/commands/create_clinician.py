from django.core.management.base import BaseCommand, CommandError

from care import services
from care.models import TeamRole


class Command(BaseCommand):
    help = "Create or update a clinician and their care-team membership (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--team", required=True, help="care team name; created if missing")
        parser.add_argument("--team-role", required=True, choices=TeamRole.values)
        parser.add_argument("--email", default="")

    def handle(self, *args, username, password, team, team_role, email, **options):
        if not username.strip() or not team.strip():
            raise CommandError("username and team must not be empty")
        user = services.create_clinician(
            username=username, password=password, team_name=team, team_role=team_role, email=email
        )
        self.stdout.write(self.style.SUCCESS(f"Clinician {user.username} is {team_role} in “{team}”."))
