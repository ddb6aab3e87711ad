"""Webhooks (issue 11): a practice's endpoints hear of its audit events over real HTTP, signed
as the Standard Webhooks specification describes, with retries, backoff and disabling.

Events come from the public services that record them (a primary-device change through
mfa.services), in a practice's chain (`audit.in_chain`, what the practice middleware sets for
a request). Deliveries go to a real HTTP server in the test; signatures are checked by
tests/webhooks/receiver.py, written from the specification and independent of our code.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.utils import timezone

import audit
from audit.models import AuditEvent
from eprescribe.tasks import transmit_prescription
from mfa.models import ProviderDevice
from mfa.services import select_primary_device
from providers.models import Membership, Practice, PracticeRole, Provider, User
from tests.conftest import TEST_PASSWORD, start_celery_worker, stop_celery_worker
from tests.eprescribe import conftest as eprescribe_fixtures
from tests.eprescribe.conftest import RxWorld
from tests.webhooks.receiver import Receiver, running_receiver, standard_webhooks_valid
from webhooks import services
from webhooks.delivery import AttemptResult, overdue_ids
from webhooks.events import EventType
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.tasks import deliver_webhook, sweep_due_deliveries

DEVICE_NAMES = ("Pixel of Dr House", "Authenticator on iPad")
# tests/eprescribe's world of signed prescriptions (dr.house in `practice`), as a fixture here.
rx_world = eprescribe_fixtures.rx


@pytest.fixture
def practices(db: None) -> tuple[Practice, Practice]:
    return Practice.objects.create(name="Northside Clinic"), Practice.objects.create(name="Southside Clinic")


@pytest.fixture
def prescriber(make_user: Callable[..., User], practices: tuple[Practice, Practice]) -> Provider:
    user = make_user("dr.house", email="house@example.test")
    provider = Provider.objects.create(user=user, display_name="Dr. Gregory House", npi="1234567893")
    Membership.objects.create(user=user, practice=practices[0], role=PracticeRole.PRESCRIBER)
    for number, name in enumerate(DEVICE_NAMES):
        ProviderDevice.objects.create(
            provider=provider, idme_device_id=f"dev-{number}", name=name, kind="totp", added_at=timezone.now()
        )
    return provider


@pytest.fixture
def practice_admin(make_user: Callable[..., User], practices: tuple[Practice, Practice]) -> User:
    user = make_user("north.admin", email="admin@north.example.test")
    Membership.objects.create(user=user, practice=practices[0], role=PracticeRole.PRACTICE_ADMIN)
    other = make_user("south.admin", email="admin@south.example.test")
    Membership.objects.create(user=other, practice=practices[1], role=PracticeRole.PRACTICE_ADMIN)
    return user


def device(provider: Provider, index: int) -> ProviderDevice:
    return ProviderDevice.objects.get(provider=provider, idme_device_id=f"dev-{index}")


def change_primary(provider: Provider, index: int, practice: Practice | None) -> ProviderDevice:
    """The real event: the prescriber chooses a primary device, in a practice (or none)."""
    with audit.in_chain(practice):
        return select_primary_device(provider, device(provider, index).pk)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


# --- a real worker delivers a real event ---------------------------------------------------
def test_a_primary_device_change_reaches_the_practice_endpoint_signed_by_a_real_worker(
    celery_worker_process: subprocess.Popen[bytes],
    prescriber: Provider,
    practices: tuple[Practice, Practice],
    receiver: Receiver,
) -> None:
    north, _ = practices
    made = services.create_endpoint(practice=north, url=receiver.url, events=[EventType.DEVICE_PRIMARY_CHANGED])

    chosen = change_primary(prescriber, 0, north)

    (request,) = receiver.wait_for(1)
    assert request.path == "/hooks/ehr"
    assert request.headers["content-type"] == "application/json"
    assert re.fullmatch(r"msg_[0-9a-f]{32}", request.headers["webhook-id"])
    assert standard_webhooks_valid(made.secret, request.headers, request.body)
    assert not standard_webhooks_valid(made.secret, request.headers, request.body.replace(b"}", b" }", 1))
    payload = json.loads(request.body)
    event = AuditEvent.objects.get(action="mfa.primary_device_selected")
    assert payload["type"] == "device.primary_changed"
    assert dt.datetime.fromisoformat(payload["timestamp"]) == event.occurred_at
    assert payload["data"] == {
        "audit_event_id": event.pk,
        "practice_id": north.pk,
        "object": {"type": "mfa.providerdevice", "id": str(chosen.pk)},
        "outcome": "success",
        "provider_id": prescriber.pk,
    }
    # Ids only: the device's name (and anything the audit details hold besides ids) stays home.
    assert DEVICE_NAMES[0].encode() not in request.body

    delivery = WebhookDelivery.objects.get()
    deadline = timezone.now() + dt.timedelta(seconds=30)
    while delivery.status == DeliveryStatus.PENDING and timezone.now() < deadline:
        delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert (delivery.message_id, delivery.attempts, delivery.last_status_code) == (
        request.headers["webhook-id"],
        1,
        200,
    )
    (logged,) = WebhookAttempt.objects.filter(delivery=delivery)
    assert (logged.status_code, logged.succeeded, logged.response_excerpt) == (200, True, "ok")


def test_a_failing_endpoint_is_retried_with_growing_backoff_until_it_answers(
    transactional_db: None,
    tmp_path: Path,
    prescriber: Provider,
    practices: tuple[Practice, Practice],
) -> None:
    """The receiver answers 500 twice, then 200: three attempts of one message, each signed,
    the waits growing (base 0.5 s: 0.5 s, then 1.5 s), each attempt logged with its answer."""
    north, _ = practices
    worker = start_celery_worker(tmp_path / "worker.log", extra_env={"WEBHOOKS_RETRY_BASE_SECONDS": "0.5"})
    try:
        with running_receiver([500, 500]) as flaky:
            made = services.create_endpoint(practice=north, url=flaky.url, events=[EventType.DEVICE_PRIMARY_CHANGED])
            change_primary(prescriber, 1, north)
            requests_seen = flaky.wait_for(3)
            delivery = WebhookDelivery.objects.get()
            deadline = timezone.now() + dt.timedelta(seconds=20)
            while delivery.status == DeliveryStatus.PENDING and timezone.now() < deadline:
                delivery.refresh_from_db()
    finally:
        stop_celery_worker(worker)

    assert len({r.headers["webhook-id"] for r in requests_seen}) == 1  # one message, retried
    assert all(standard_webhooks_valid(made.secret, r.headers, r.body) for r in requests_seen)
    first_wait = requests_seen[1].at - requests_seen[0].at
    second_wait = requests_seen[2].at - requests_seen[1].at
    assert 0.5 <= first_wait < 1.5 <= second_wait
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.SUCCEEDED, 3, 200)
    log = list(WebhookAttempt.objects.filter(delivery=delivery).values_list("number", "status_code", "succeeded"))
    assert log == [(1, 500, False), (2, 500, False), (3, 200, True)]
    first_attempt = WebhookAttempt.objects.get(delivery=delivery, number=1)
    assert first_attempt.response_excerpt == "receiver is down for maintenance"
    assert WebhookEndpoint.objects.get().failure_count == 0  # the success reset the count


# --- disabling ----------------------------------------------------------------------------
def test_an_endpoint_is_disabled_after_n_consecutive_failures_and_the_practice_admin_is_told(
    prescriber: Provider,
    practice_admin: User,
    practices: tuple[Practice, Practice],
    settings: Any,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 3
    settings.WEBHOOKS_RETRY_BASE_SECONDS = 0
    north, _ = practices
    with running_receiver([500] * 10) as down:
        made = services.create_endpoint(practice=north, url=down.url, events=[EventType.DEVICE_PRIMARY_CHANGED])
        with django_capture_on_commit_callbacks(execute=True):
            change_primary(prescriber, 0, north)
            change_primary(prescriber, 1, north)
        first, second = WebhookDelivery.objects.order_by("id")

        assert deliver_webhook(first.pk) == AttemptResult.RETRY_SCHEDULED
        assert deliver_webhook(first.pk) == AttemptResult.RETRY_SCHEDULED
        with django_capture_on_commit_callbacks(execute=True):
            assert deliver_webhook(first.pk) == AttemptResult.ENDPOINT_DISABLED
        assert len(down.received) == 3

        endpoint = WebhookEndpoint.objects.get(pk=made.endpoint.pk)
        assert not endpoint.active and endpoint.disabled_at is not None
        assert endpoint.failure_count == 3 and "HTTP 500" in endpoint.disabled_reason
        # What was still waiting for it is abandoned, and nothing more is posted.
        assert WebhookDelivery.objects.get(pk=second.pk).status == DeliveryStatus.ABANDONED
        assert deliver_webhook(second.pk) == AttemptResult.NOT_DUE
        with django_capture_on_commit_callbacks(execute=True):
            change_primary(prescriber, 0, north)
        assert WebhookDelivery.objects.count() == 2
        assert len(down.received) == 3

    # The practice's admin (only this practice's) is told by email, and the trail says so.
    (message,) = mail.outbox
    assert message.to == ["admin@north.example.test"]
    assert down.url in message.body and "disabled" in message.body
    disabled = AuditEvent.objects.get(action="webhooks.endpoint_disabled")
    assert (disabled.chain_id, disabled.target_id, disabled.outcome) == (north.pk, str(endpoint.pk), "failure")
    assert AuditEvent.objects.filter(action="webhooks.admins_notified", chain_id=north.pk).exists()

    # Turned on again by a practice admin: a clean count, and new events are delivered again.
    services.reactivate(endpoint, actor=practice_admin)
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.failure_count == 0 and endpoint.disabled_at is None


# --- whose events go where ------------------------------------------------------------------
@pytest.mark.req("ASVS-11")
def test_events_go_only_to_endpoints_of_their_own_practice_and_events_of_no_practice_go_nowhere(
    prescriber: Provider,
    practices: tuple[Practice, Practice],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    north, south = practices
    with running_receiver() as north_hook, running_receiver() as south_hook, running_receiver() as other_events:
        services.create_endpoint(practice=north, url=north_hook.url, events=[EventType.DEVICE_PRIMARY_CHANGED])
        services.create_endpoint(practice=south, url=south_hook.url, events=[EventType.DEVICE_PRIMARY_CHANGED])
        services.create_endpoint(practice=north, url=other_events.url, events=[EventType.PRESCRIPTION_SIGNED])

        with django_capture_on_commit_callbacks(execute=True):
            change_primary(prescriber, 0, north)  # North's chain
            change_primary(prescriber, 1, None)  # the chain of no practice
        for delivery in WebhookDelivery.objects.all():
            deliver_webhook(delivery.pk)

        assert AuditEvent.objects.filter(action="mfa.primary_device_selected").count() == 2
        (delivered,) = north_hook.received
        assert json.loads(delivered.body)["data"]["practice_id"] == north.pk
        assert south_hook.received == [] and other_events.received == []
    assert list(WebhookDelivery.objects.values_list("endpoint__practice", "status")) == [
        (north.pk, DeliveryStatus.SUCCEEDED)
    ]


# --- the secret --------------------------------------------------------------------------------
@pytest.fixture
def admin_client_signed_in(make_user: Callable[..., User]) -> Client:
    make_user("site.admin", is_staff=True, is_superuser=True)
    client = Client()
    assert client.login(username="site.admin", password=TEST_PASSWORD)
    return client


@pytest.mark.req("ASVS-01")
def test_the_secret_is_random_shown_once_stored_encrypted_and_never_listed(
    admin_client_signed_in: Client, practices: tuple[Practice, Practice], receiver: Receiver
) -> None:
    north, _ = practices
    response = admin_client_signed_in.post(
        "/admin/webhooks/webhookendpoint/add/",
        {"practice": north.pk, "url": receiver.url, "description": "Partner", "events": ["device.added"]},
    )
    assert response.status_code == 200
    secrets_shown = re.findall(r"whsec_[A-Za-z0-9+/=]+", response.content.decode())
    assert len(secrets_shown) == 1
    secret = secrets_shown[0]
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == secret and endpoint.events == ["device.added"]

    for page in (
        "/admin/webhooks/webhookendpoint/",
        f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/",
        "/admin/webhooks/webhookdelivery/",
    ):
        shown = admin_client_signed_in.get(page)
        assert shown.status_code == 200
        assert "whsec_" not in shown.content.decode(), page
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhooks_webhookendpoint WHERE id = %s", [endpoint.pk])
        (stored,) = cursor.fetchone()
    assert secret not in stored and "whsec_" not in stored

    # Never logged: the audit trail records the endpoint, not its secret.
    assert AuditEvent.objects.filter(action="webhooks.endpoint_created", target_id=str(endpoint.pk)).exists()
    assert not any(secret in json.dumps(event.details) for event in AuditEvent.objects.all())

    # A second endpoint gets its own secret.
    other = services.create_endpoint(practice=north, url=receiver.url, events=["device.added"])
    assert other.secret != secret


# --- where the EHR will post -------------------------------------------------------------------
@pytest.mark.req("ASVS-10")
@pytest.mark.parametrize(
    "url",
    [
        "http://partner.example.org/hooks",  # not https
        "https://10.0.0.5/hooks",  # private
        "https://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
        "https://[::1]:8443/hooks",  # loopback, while loopback is not allowed
        "https://localhost/hooks",  # a name resolving to loopback
        "https://user:pass@partner.example.org/hooks",  # credentials in the URL
        "ftp://partner.example.org/hooks",
    ],
)
def test_unsafe_endpoint_urls_are_refused_with_a_clear_error_and_nothing_is_saved(
    url: str, admin_client_signed_in: Client, practices: tuple[Practice, Practice], settings: Any
) -> None:
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    with pytest.raises(ValidationError):
        services.create_endpoint(practice=practices[0], url=url, events=["device.added"])
    response = admin_client_signed_in.post(
        "/admin/webhooks/webhookendpoint/add/", {"practice": practices[0].pk, "url": url, "events": ["device.added"]}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["url"]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.req("ASVS-10")
def test_unknown_event_types_are_refused(practices: tuple[Practice, Practice], receiver: Receiver) -> None:
    with pytest.raises(ValidationError, match="Unknown event type"):
        services.create_endpoint(practice=practices[0], url=receiver.url, events=["patient.updated"])
    with pytest.raises(ValidationError, match="at least one"):
        services.create_endpoint(practice=practices[0], url=receiver.url, events=[])
    assert not WebhookEndpoint.objects.exists()


def test_the_url_is_checked_again_before_each_attempt(
    prescriber: Provider,
    practices: tuple[Practice, Practice],
    receiver: Receiver,
    settings: Any,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    """Registered while loopback was allowed (the demo); production settings refuse the post."""
    north, _ = practices
    services.create_endpoint(practice=north, url=receiver.url, events=[EventType.DEVICE_PRIMARY_CHANGED])
    with django_capture_on_commit_callbacks(execute=True):
        change_primary(prescriber, 0, north)
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    delivery = WebhookDelivery.objects.get()
    assert deliver_webhook(delivery.pk) == AttemptResult.RETRY_SCHEDULED
    assert receiver.received == []
    (logged,) = WebhookAttempt.objects.filter(delivery=delivery)
    assert logged.status_code is None and logged.error.startswith("refused:")


def test_the_sweep_queues_again_only_overdue_deliveries_of_active_endpoints(
    prescriber: Provider,
    practices: tuple[Practice, Practice],
    receiver: Receiver,
    settings: Any,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    settings.WEBHOOKS_SWEEP_SECONDS = 5
    north, _ = practices
    services.create_endpoint(practice=north, url=receiver.url, events=[EventType.DEVICE_PRIMARY_CHANGED])
    with django_capture_on_commit_callbacks(execute=True):
        change_primary(prescriber, 0, north)
        change_primary(prescriber, 1, north)
    lost, _not_yet_due = WebhookDelivery.objects.order_by("id")
    WebhookDelivery.objects.filter(pk=lost.pk).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=30))
    assert overdue_ids() == [lost.pk]
    assert sweep_due_deliveries() == 1
    WebhookEndpoint.objects.update(active=False)
    assert overdue_ids() == []


# --- prescriptions: transmission events from the worker reach the prescription's practice -------
@pytest.mark.req("ASVS-11")
@pytest.mark.req("DEA-15")
@pytest.mark.django_db(transaction=True)
def test_transmission_events_from_the_worker_reach_the_prescriptions_practice(
    rx_world: RxWorld, other_practice: Practice, live_server: Any, settings: Any
) -> None:
    """Transmission runs in the worker, outside any request: its audit events name the
    prescription's practice (its chain), so that practice's endpoint hears of them."""
    with running_receiver() as ours, running_receiver() as theirs:
        wanted = [EventType.PRESCRIPTION_TRANSMITTED, EventType.PRESCRIPTION_TRANSMISSION_FAILED]
        services.create_endpoint(practice=rx_world.practice, url=ours.url, events=wanted)
        services.create_endpoint(practice=other_practice, url=theirs.url, events=wanted)
        settings.PHARMACY_GATEWAY_URL = f"{live_server.url}/idme-sandbox/pharmacy-network/newrx"
        [sent] = rx_world.sign(rx_world.ready())
        assert transmit_prescription.apply(args=(sent.pk,)).get() == "sent"
        settings.PHARMACY_GATEWAY_URL = "http://127.0.0.1:9/newrx"  # nothing listens there
        [lost] = rx_world.sign(rx_world.ready())
        transmit_prescription.apply(args=(lost.pk,))
        for delivery in WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING):
            deliver_webhook(delivery.pk)

        received = {json.loads(request.body)["type"]: json.loads(request.body)["data"] for request in ours.received}
        assert set(received) == {"prescription.transmitted", "prescription.transmission_failed"}
        assert received["prescription.transmitted"]["object"] == {"type": "eprescribe.prescription", "id": str(sent.pk)}
        assert received["prescription.transmission_failed"]["object"]["id"] == str(lost.pk)
        assert {data["practice_id"] for data in received.values()} == {rx_world.practice.pk}
        assert theirs.received == []
    events = AuditEvent.objects.filter(action__in=["eprescribe.transmitted", "eprescribe.transmission_failed"])
    assert {event.chain_id for event in events} == {rx_world.practice.pk}
