"""The real push providers' requests, with only the network call faked."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from alerts.channels import (
    ApnsPushTransport,
    DeliveryError,
    FcmPushTransport,
    PlatformPushTransport,
    PushChannel,
)

PAYLOAD = {
    "title": "Urgent alert",
    "body": "Open Crossroad to review it.",
    "key": "alert:1:1:urgent:u:push",
    "kind": "alert",
}


class Network:
    def __init__(self):
        self.requests = []

    def __call__(self, url, raw, headers):
        self.requests.append((url, json.loads(raw), headers))


@pytest.fixture
def apns_key():
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key, pem.decode()


def test_apns_sends_a_signed_provider_token_the_topic_and_the_key_as_collapse_id(apns_key):
    key, pem = apns_key
    network = Network()
    apns = ApnsPushTransport(
        team_id="TEAM123",
        key_id="KEY456",
        private_key=pem,
        topic="org.crossroad.app",
        sandbox=True,
        post=network,
    )

    apns.send(platform="apns", token="abc123", payload=PAYLOAD)
    apns.send(platform="apns", token="def456", payload=PAYLOAD)

    (url, body, headers), (_, _, again) = network.requests
    assert url == "https://api.sandbox.push.apple.com/3/device/abc123"
    assert body["aps"]["alert"] == {"title": "Urgent alert", "body": "Open Crossroad to review it."}
    assert body["key"] == PAYLOAD["key"]
    assert headers["apns-topic"] == "org.crossroad.app"
    assert headers["apns-collapse-id"] == PAYLOAD["key"]
    token = headers["authorization"].removeprefix("bearer ")
    assert jwt.get_unverified_header(token)["kid"] == "KEY456"
    assert jwt.decode(token, key.public_key(), algorithms=["ES256"])["iss"] == "TEAM123"
    assert again["authorization"] == headers["authorization"]  # the provider token is reused


def test_fcm_sends_the_v1_message_with_a_collapse_key():
    network = Network()
    fcm = FcmPushTransport(project="crossroad-prod", token_source=lambda: "oauth-token", post=network)

    fcm.send(platform="fcm", token="device-token", payload=PAYLOAD)

    [(url, body, headers)] = network.requests
    assert url == "https://fcm.googleapis.com/v1/projects/crossroad-prod/messages:send"
    assert headers == {"Authorization": "Bearer oauth-token"}
    assert body["message"]["token"] == "device-token"
    assert body["message"]["data"]["key"] == PAYLOAD["key"]
    assert body["message"]["android"]["collapse_key"] == PAYLOAD["key"]


def test_each_device_goes_to_its_platforms_provider_and_an_unconfigured_one_fails_loudly(apns_key):
    fcm_net, apns_net = Network(), Network()
    router = PlatformPushTransport(
        {
            "fcm": FcmPushTransport(project="p", token_source=lambda: "t", post=fcm_net),
            "apns": ApnsPushTransport(
                team_id="T", key_id="K", private_key=apns_key[1], topic="b", post=apns_net
            ),
        }
    )
    router.send(platform="fcm", token="a", payload=PAYLOAD)
    router.send(platform="apns", token="b", payload=PAYLOAD)

    assert len(fcm_net.requests) == len(apns_net.requests) == 1
    with pytest.raises(DeliveryError, match="webpush"):
        router.send(platform="webpush", token="c", payload=PAYLOAD)


def test_a_device_of_a_platform_without_a_provider_fails_permanently():
    router = PlatformPushTransport(
        {"fcm": FcmPushTransport(project="p", token_source=lambda: "t", post=Network())}
    )

    with pytest.raises(DeliveryError, match="no push provider") as failure:
        router.send(platform="symbian", token="c", payload=PAYLOAD)
    assert failure.value.permanent  # the outbox dead-letters it instead of retrying for hours


def test_every_push_delivery_of_a_process_reuses_one_transport_and_its_provider_token(settings):
    """Issue 7 item 6: a transport built per delivery made a new APNs provider token every
    time, which Apple throttles (at most one every 20 minutes)."""
    settings.PUSH_TRANSPORT = "alerts.channels.PlatformPushTransport"

    first, second = PushChannel(), PushChannel()

    assert first.transport is second.transport
    assert first.transport.transports["apns"] is second.transport.transports["apns"]
