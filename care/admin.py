from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from care.models import AccessEvent, CaregiverLink, CareTeam, Device, Patient, TeamMembership, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "role", "is_active", "locked_until"]
    list_filter = ["role", "is_active"]
    fieldsets = [
        *BaseUserAdmin.fieldsets,
        ("Crossroad", {"fields": ["role", "language", "timezone", "failed_logins", "locked_until"]}),
    ]


class MembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0


@admin.register(CareTeam)
class CareTeamAdmin(admin.ModelAdmin):
    inlines = [MembershipInline]


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = ["display_name", "care_team", "enrolled_on", "activated_at"]
    list_filter = ["care_team"]


@admin.register(CaregiverLink)
class CaregiverLinkAdmin(admin.ModelAdmin):
    list_display = ["caregiver", "patient", "can_view", "can_report", "revoked_at"]


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["user", "platform", "created_at"]


@admin.register(AccessEvent)
class AccessEventAdmin(admin.ModelAdmin):
    list_display = ["at", "actor", "method", "path", "status_code"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
