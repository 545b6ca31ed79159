"""Sign-in to the clinic: password, then the second factor (care.twofactor), or the
authenticator's enrollment for a clinician who has none yet.

Between the password and the code nobody is logged in: the session holds only the id
of the pending user, so a password alone never reaches a page or the API (which also
accepts the session cookie).
"""

from __future__ import annotations

import time
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django_htmx.http import HttpResponseClientRedirect
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from care import services, twofactor
from care.models import Role, User
from clinic.forms import AuthenticatorForm, ClinicianLoginForm, CodeForm, LanguageForm

PENDING_USER = "clinic_pending_user"
PENDING_AT = "clinic_pending_at"
PENDING_NEXT = "clinic_pending_next"
ENROLLING_DEVICE = "clinic_enrolling_device"
# The password step is good for this long; then it must be typed again.
PENDING_SECONDS = 300


def clinician_required(view):
    """A clinician, signed in with the second factor whenever one is due."""

    @wraps(view)
    def guarded(request, *args, **kwargs):
        user = request.user
        signed_in = user.is_authenticated and user.role == Role.CLINICIAN
        # A session from elsewhere (the admin's login) lacks the clinic's second factor.
        if not signed_in or (
            not user.is_verified() and (settings.CLINIC_REQUIRE_2FA or twofactor.needs_second_factor(user))
        ):
            login = f"{reverse('clinic:login')}?next={request.path}"
            # An htmx poll would swap the login page into the table: send the whole tab there.
            return HttpResponseClientRedirect(login) if request.htmx else redirect(login)
        return view(request, *args, **kwargs)

    return guarded


class LoginView(auth_views.LoginView):
    template_name = "clinic/login.html"
    authentication_form = ClinicianLoginForm
    redirect_authenticated_user = False

    def form_valid(self, form):
        user = form.get_user()
        if not (twofactor.needs_second_factor(user) or twofactor.must_enroll(user)):
            return super().form_valid(form)
        self.request.session.cycle_key()
        self.request.session[PENDING_USER] = str(user.pk)
        self.request.session[PENDING_AT] = time.time()
        self.request.session[PENDING_NEXT] = self.get_success_url()
        if twofactor.needs_second_factor(user):
            return redirect("clinic:login_code")
        return redirect("clinic:authenticator")


def pending_user(request) -> User | None:
    pk, since = request.session.get(PENDING_USER), request.session.get(PENDING_AT, 0)
    if not pk or time.time() - since > PENDING_SECONDS:
        return None
    user = User.objects.filter(pk=pk, is_active=True, role=Role.CLINICIAN).first()
    return None if user is None or user.is_locked() else user


def finish_login(request, user: User, device) -> str:
    target = request.session.get(PENDING_NEXT) or reverse("clinic:triage")
    for key in (PENDING_USER, PENDING_AT, PENDING_NEXT):
        request.session.pop(key, None)
    auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    if device is not None:
        otp_login(request, device)
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("clinic:triage")
    return target


def login_code(request):
    user = pending_user(request)
    if user is None:
        messages.error(request, _("Please sign in again."))
        return redirect("clinic:login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = twofactor.check_login_code(user=user, code=form.cleaned_data["code"])
        if device is not None:
            return redirect(finish_login(request, user, device))
        user.refresh_from_db(fields=["locked_until"])
        if user.is_locked():
            request.session.flush()
            messages.error(request, _("Please sign in again."))
            return redirect("clinic:login")
        form.add_error(
            "code", _("This code is not right. Codes change every 30 seconds; try the current one.")
        )
    return render(request, "clinic/login_code.html", {"form": form})


def authenticator(request):
    """Enroll an authenticator: for a pending clinician who has none (then signed in), or
    for a signed-in clinician replacing theirs. The recovery codes are shown once."""
    signed_in = request.user.is_authenticated and request.user.role == Role.CLINICIAN
    if signed_in and not request.user.is_verified() and twofactor.needs_second_factor(request.user):
        return redirect("clinic:login")
    user = request.user if signed_in else pending_user(request)
    if user is None:
        messages.error(request, _("Please sign in again."))
        return redirect("clinic:login")
    device = TOTPDevice.objects.filter(
        user=user, confirmed=False, pk=request.session.get(ENROLLING_DEVICE)
    ).first()
    form = AuthenticatorForm(request.POST or None)
    if request.method == "POST" and device is not None and form.is_valid():
        codes = twofactor.confirm_authenticator(device=device, code=form.cleaned_data["code"])
        if codes is not None:
            request.session.pop(ENROLLING_DEVICE, None)
            target = reverse("clinic:triage")
            if not signed_in:
                target = finish_login(request, user, twofactor.confirmed_authenticator(user))
            else:
                otp_login(request, twofactor.confirmed_authenticator(user))
            return render(request, "clinic/recovery_codes.html", {"codes": codes, "next": target})
        form.add_error(
            "code", _("This code is not right. Codes change every 30 seconds; try the current one.")
        )
    if device is None:
        device = twofactor.start_authenticator(user=user)
        request.session[ENROLLING_DEVICE] = device.pk
    context = {
        "form": form,
        "qr": twofactor.provisioning_qr_svg(device),
        "secret": twofactor.base32_secret(device),
        "required": not signed_in,
    }
    return render(request, "clinic/authenticator.html", context)


@clinician_required
def account(request):
    """The clinician's own settings: language, authenticator, recovery codes."""
    form = LanguageForm(request.POST or None, initial={"language": request.user.language})
    if request.method == "POST":
        if "new_recovery_codes" in request.POST:
            codes = twofactor.issue_recovery_codes(user=request.user)
            return render(
                request, "clinic/recovery_codes.html", {"codes": codes, "next": reverse("clinic:account")}
            )
        if form.is_valid():
            services.update_profile(user=request.user, data={"language": form.cleaned_data["language"]})
            translation.activate(form.cleaned_data["language"])
            messages.success(request, _("Language changed."))
            return redirect("clinic:account")
    context = {"form": form, "has_authenticator": twofactor.confirmed_authenticator(request.user) is not None}
    return render(request, "clinic/account.html", context)
