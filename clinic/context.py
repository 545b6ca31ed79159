"""The navigation's one question: which teams this clinician administers."""

from __future__ import annotations

from care.models import TeamMembership, TeamRole


def clinic_nav(request) -> dict:
    user = getattr(request, "user", None)
    if not request.path.startswith("/clinic/") or user is None or not user.is_authenticated:
        return {}
    return {"clinic_admin_teams": admin_teams(user)}


def admin_teams(user) -> list:
    memberships = TeamMembership.objects.filter(user=user, team_role=TeamRole.TEAM_ADMIN).select_related(
        "team"
    )
    return [m.team for m in memberships]
