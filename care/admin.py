from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from care import services
from care.access import audit_read
from care.models import AccessEvent, CaregiverLink, CareTeam, Device, Patient, TeamMembership, User
from care.services import revoke_refresh_tokens


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "role", "is_active", "locked_until"]
    list_filter = ["role", "is_active"]
    fieldsets = [
        *BaseUserAdmin.fieldsets,
        ("Crossroad", {"fields": ["role", "language", "timezone", "failed_logins", "locked_until"]}),
    ]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            # SPEC: disabling an account revokes every refresh token it holds.
            revoke_refresh_tokens(user=obj)


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

    def save_model(self, request, obj, form, change):
        # Through the write paths, so that the patient has a triage row with their name.
        data = {name: form.cleaned_data[name] for name in form.changed_data}
        if change:
            services.update_patient(patient=obj, data=data)
        else:
            obj.save()
            services.save_patient_status(patient=obj)

    # SPEC: an admin sees everything, and every access is audited.
    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        shown = getattr(response, "context_data", {}).get("cl")
        if shown is not None:
            audit_read(request, [p.pk for p in shown.result_list], response.status_code)
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and response.status_code == 200:
            audit_read(request, [object_id], 200)
        return response


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
