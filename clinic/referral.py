"""The referral on the patient page (accept, decline with a reason, complete: the
`move_referral` write path) and the referral summary the pain specialist receives: one
printable A4 page, and the same as a PDF drawn by WeasyPrint from the same template."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.staticfiles import finders
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from alerts.actions.referrals import IllegalTransition, move_referral
from alerts.models import ReferralRecommendation
from care.access import audit_read
from care.models import Patient
from clinic.evidence import referral_criteria
from clinic.forms import DeclineForm
from clinic.record import patient_record
from clinic.signin import clinician_required

MOVES = {
    "accept": ReferralRecommendation.Status.ACCEPTED,
    "decline": ReferralRecommendation.Status.DECLINED,
    "complete": ReferralRecommendation.Status.COMPLETED,
}


def visible_referral(request, referral_id) -> ReferralRecommendation:
    visible = Patient.objects.visible_to(request.user).values("pk")
    return get_object_or_404(
        ReferralRecommendation.objects.select_related("patient").filter(patient__in=visible), pk=referral_id
    )


def patient_referral(referral: ReferralRecommendation) -> str:
    return reverse("clinic:patient", args=[referral.patient_id]) + "#referral"


@require_POST
@clinician_required
def move(request, referral_id, verb: str):
    referral = visible_referral(request, referral_id)
    reason = ""
    if verb == "decline":
        form = DeclineForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Say why the referral is declined."))
            return redirect(patient_referral(referral))
        reason = form.cleaned_data["reason"]
    try:
        move_referral(referral=referral, to=MOVES[verb], by=request.user, reason=reason)
    except IllegalTransition:  # a colleague moved it first
        messages.error(request, _("This referral has already moved on; the page shows where it is now."))
    else:
        messages.success(
            request,
            {
                "accept": _("Referral accepted."),
                "decline": _("Referral declined."),
                "complete": _("Referral completed."),
            }[verb],
        )
    return redirect(patient_referral(referral))


def summary_context(request, patient_id) -> dict:
    patient = get_object_or_404(
        Patient.objects.visible_to(request.user).select_related("care_team"), pk=patient_id
    )
    record = patient_record(patient)
    referral = record["referral"]
    if referral is None:
        raise Http404
    return {
        "patient": patient,
        **record,
        "criteria": referral_criteria(referral),
        "printed_at": timezone.localtime(),
        "printed_by": request.user,
    }


@clinician_required
def summary(request, patient_id):
    context = summary_context(request, patient_id)
    audit_read(request, [context["patient"].pk], 200)
    return render(request, "clinic/referral_summary.html", context)


def refuse_fetch(url: str, *args, **kwargs):
    """The PDF is drawn from what is in the page and its stylesheet: nothing is fetched."""
    raise ValueError(f"no fetching while rendering a referral PDF: {url[:40]}")


@clinician_required
def summary_pdf(request, patient_id):
    from weasyprint import CSS, HTML

    context = summary_context(request, patient_id)
    html = render_to_string("clinic/referral_summary.html", {**context, "pdf": True}, request=request)
    stylesheet = CSS(filename=finders.find("clinic/referral.css"), url_fetcher=refuse_fetch)
    pdf = HTML(string=html, url_fetcher=refuse_fetch, base_url=settings.PUBLIC_URL).write_pdf(
        stylesheets=[stylesheet]
    )
    audit_read(request, [context["patient"].pk], 200)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="referral-{context["patient"].pk}.pdf"'
    return response
