"""Automated referral pathway: each referral recommendation created or changed is pushed
to the team's FHIR endpoint as a Subscriptions R4 Backport (1.1) rest-hook notification,
through the alerts outbox (at least once, deduplicated by key, HMAC-signed).

The notification is a `history` Bundle: the SubscriptionStatus Parameters first, then
the ServiceRequest as it stands at delivery (full-resource content).
"""

from __future__ import annotations

import json
from datetime import datetime

from django.conf import settings
from django.db.models import F

from alerts.channels import DeliveryError, sign
from alerts.dispatch import enqueue_deliveries
from alerts.models import Alert, Notification, ReferralRecommendation
from backend import outbound
from diary.models import CheckIn
from interop.bundles import full_url
from interop.mapping.common import derived_id, fhir_base
from interop.mapping.everything import load_people
from interop.mapping.observations import checkin_observations
from interop.mapping.referrals import referral_resources
from interop.models import FhirEndpoint
from interop.validation import validate

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
FHIR_JSON = "application/fhir+json"


def topic_url() -> str:
    return f"{fhir_base()}/SubscriptionTopic/referral-recommendation"


def subscription_id(team_id) -> str:
    return derived_id(team_id, "referral-subscription")


def subscription_resource(endpoint: FhirEndpoint) -> dict:
    """The team's endpoint as the backported R4 Subscription the notifications name."""
    return validate(
        {
            "resourceType": "Subscription",
            "id": subscription_id(endpoint.team_id),
            "meta": {"profile": [f"{BACKPORT}/backport-subscription"]},
            "status": "active" if endpoint.enabled else "off",
            "reason": "Referral recommendations of the care team, pushed as they are created or change",
            "criteria": topic_url(),
            "channel": {
                "type": "rest-hook",
                "endpoint": endpoint.url,
                "payload": FHIR_JSON,
                "_payload": {
                    "extension": [
                        {"url": f"{BACKPORT}/backport-payload-content", "valueCode": "full-resource"}
                    ]
                },
            },
        }
    )


def notification_key(referral: ReferralRecommendation) -> str:
    # One per state of the referral: the same change written twice is one notification.
    return (
        f"referral:{referral.pk}:{referral.status}:{referral.priority}:{referral.updated_at.timestamp():.6f}"
    )


def write_referral_notification(*, referral: ReferralRecommendation, now: datetime) -> None:
    """The outbox row of the team's endpoint, in the referral write path's transaction."""
    team_id = referral.patient.care_team_id
    endpoints = FhirEndpoint.objects.filter(team_id=team_id, enabled=True)
    if not endpoints.update(events_sent=F("events_sent") + 1):
        return
    number = endpoints.values_list("events_sent", flat=True).get()
    row = Notification(
        key=notification_key(referral),
        kind=Notification.Kind.REFERRAL,
        channel=Notification.Channel.FHIR,
        team_id=team_id,
        payload={"referral": str(referral.pk), "event_number": number, "timestamp": now.isoformat()},
        created_at=now,
        next_attempt_at=now,
    )
    Notification.objects.bulk_create([row], ignore_conflicts=True)
    enqueue_deliveries([row.pk])


def notification_bundle(notification: Notification, endpoint: FhirEndpoint) -> dict:
    referral = ReferralRecommendation.objects.select_related("patient").get(
        pk=notification.payload["referral"]
    )
    alerts = list(Alert.objects.filter(patient_id=referral.patient_id))
    observations = {}
    record_ids = {str(rid) for a in alerts for rid in a.record_ids}
    if record_ids:
        people, _ = load_people(referral.patient)
        for checkin in CheckIn.objects.filter(patient_id=referral.patient_id, pk__in=record_ids):
            observations[str(checkin.pk)] = [
                {"reference": f"Observation/{o['id']}"} for o in checkin_observations(checkin, people)
            ]
    request = validate(referral_resources(referral, alerts, observations)[0])
    subscription = f"{fhir_base()}/Subscription/{subscription_id(endpoint.team_id)}"
    number = str(notification.payload["event_number"])
    status = validate(
        {
            "resourceType": "Parameters",
            "id": derived_id(notification.pk, "status"),
            "meta": {"profile": [f"{BACKPORT}/backport-subscription-status-r4"]},
            "parameter": [
                {"name": "subscription", "valueReference": {"reference": subscription}},
                {"name": "topic", "valueCanonical": topic_url()},
                {"name": "status", "valueCode": "active"},
                {"name": "type", "valueCode": "event-notification"},
                {"name": "events-since-subscription-start", "valueString": number},
                {
                    "name": "notification-event",
                    "part": [
                        {"name": "event-number", "valueString": number},
                        {"name": "timestamp", "valueInstant": notification.payload["timestamp"]},
                        {"name": "focus", "valueReference": {"reference": full_url(request)}},
                    ],
                },
            ],
        }
    )
    bundle = {
        "resourceType": "Bundle",
        "id": derived_id(notification.pk, "notification"),
        "meta": {"profile": [f"{BACKPORT}/backport-subscription-notification-r4"]},
        "type": "history",
        "timestamp": notification.payload["timestamp"],
        "entry": [
            {
                "fullUrl": f"urn:uuid:{status['id']}",
                "resource": status,
                "request": {"method": "GET", "url": f"{subscription}/$status"},
                "response": {"status": "200"},
            },
            {
                "fullUrl": full_url(request),
                "resource": request,
                "request": {"method": "PUT", "url": f"ServiceRequest/{request['id']}"},
                "response": {"status": "200"},
            },
        ],
    }
    return validate(bundle)


class FhirHookChannel:
    """The `fhir` channel of the outbox: POST the notification Bundle to the endpoint."""

    def __init__(self, post=None):
        self.post = post or outbound.post

    def send(self, notification: Notification) -> None:
        endpoint = FhirEndpoint.objects.filter(team_id=notification.team_id, enabled=True).first()
        if endpoint is None:
            raise DeliveryError("the team has no FHIR endpoint")
        raw = json.dumps(notification_bundle(notification, endpoint), separators=(",", ":")).encode()
        headers = {
            "Content-Type": FHIR_JSON,
            "Idempotency-Key": notification.key,
            "X-Crossroad-Signature": sign(endpoint.secret, raw),
        }
        try:
            self.post(endpoint.url, body=raw, headers=headers, timeout=settings.CHANNEL_TIMEOUT_SECONDS)
        except outbound.OutboundError as exc:
            raise DeliveryError(f"fhir endpoint: {exc}") from exc
