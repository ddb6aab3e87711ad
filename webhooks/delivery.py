"""One delivery attempt, its log, the backoff schedule and disabling a failing endpoint.

An attempt first claims the delivery (moves its next attempt time past the attempt's own
duration), so two copies of the task, or the task and the sweep, never post the same attempt
twice; the receiver still deduplicates by `webhook-id`, as the Standard Webhooks
specification asks, because a crash after the post and before the log repeats it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass
from enum import StrEnum

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

import audit
from audit.models import Outcome
from providers.models import Membership, PracticeRole
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.signing import headers
from webhooks.urlguard import UnsafeUrl, check_url

logger = logging.getLogger(__name__)

EXCERPT_CHARS = 500
CLAIM_SLACK = dt.timedelta(seconds=1)


class AttemptResult(StrEnum):
    DELIVERED = "delivered"
    RETRY_SCHEDULED = "retry_scheduled"
    GAVE_UP = "gave_up"
    ENDPOINT_DISABLED = "endpoint_disabled"
    NOT_DUE = "not_due"  # done already, abandoned, or another worker holds this attempt


class WebhookAction(StrEnum):
    """Audit actions of this app (in the endpoint's practice chain)."""

    ENDPOINT_CREATED = "webhooks.endpoint_created"
    ENDPOINT_CHANGED = "webhooks.endpoint_changed"
    SECRET_ROTATED = "webhooks.secret_rotated"
    ENDPOINT_REACTIVATED = "webhooks.endpoint_reactivated"
    ENDPOINT_DISABLED = "webhooks.endpoint_disabled"
    ADMINS_NOTIFIED = "webhooks.admins_notified"
    ADMINS_NOTIFY_FAILED = "webhooks.admins_notify_failed"


# --- the documented limits (docs/api.md "Webhooks"; settings WEBHOOKS_*) ---------------------
def max_attempts() -> int:
    return int(getattr(settings, "WEBHOOKS_MAX_ATTEMPTS", 8))


def disable_after() -> int:
    return int(getattr(settings, "WEBHOOKS_DISABLE_AFTER_FAILURES", 15))


def timeout_seconds() -> float:
    return float(getattr(settings, "WEBHOOKS_TIMEOUT_SECONDS", 10.0))


def retry_delay(attempts_made: int) -> float:
    """Seconds before the next attempt after `attempts_made` failed ones: base x 3^(n-1)
    (30 s, 90 s, 4.5 min, 13.5 min, 40.5 min, about 2 h and 6 h by default)."""
    base = float(getattr(settings, "WEBHOOKS_RETRY_BASE_SECONDS", 30.0))
    return float(base * 3 ** max(attempts_made - 1, 0))


@dataclass(frozen=True)
class Answer:
    attempted_at: dt.datetime
    duration_ms: int
    status_code: int | None = None
    excerpt: str = ""
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _post(url: str, secret: str, message_id: str, body: bytes) -> Answer:
    attempted_at = timezone.now()
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        check_url(url)
    except UnsafeUrl as exc:
        return Answer(attempted_at, elapsed(), error=f"refused: {exc}"[:300])
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: the address checked is the one called
    try:
        with session.post(
            url,
            data=body,
            headers=headers(secret, message_id, int(attempted_at.timestamp()), body),
            timeout=(min(5.0, timeout_seconds()), timeout_seconds()),
            allow_redirects=False,
            stream=True,
        ) as response:
            raw = next(response.iter_content(chunk_size=4 * EXCERPT_CHARS), b"")
            excerpt = raw.decode("utf-8", errors="replace")[:EXCERPT_CHARS]
            return Answer(attempted_at, elapsed(), response.status_code, excerpt)
    except requests.RequestException as exc:
        return Answer(attempted_at, elapsed(), error=f"{type(exc).__name__}: {exc}"[:300])
    finally:
        session.close()


def attempt(delivery_id: int) -> AttemptResult:
    """Make the next attempt of one delivery if it is due, log it, and schedule what follows."""
    now = timezone.now()
    lease = now + dt.timedelta(seconds=timeout_seconds() + 60)
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now + CLAIM_SLACK
    ).update(next_attempt_at=lease)
    if not claimed:
        return AttemptResult.NOT_DUE
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.active:
        WebhookDelivery.objects.filter(pk=delivery_id).update(status=DeliveryStatus.ABANDONED, next_attempt_at=None)
        return AttemptResult.NOT_DUE
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    answer = _post(endpoint.url, endpoint.secret, delivery.message_id, body)
    return _record(delivery_id, endpoint.pk, answer)


def _record(delivery_id: int, endpoint_id: int, answer: Answer) -> AttemptResult:
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        delivery.attempts += 1
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            attempted_at=answer.attempted_at,
            duration_ms=answer.duration_ms,
            status_code=answer.status_code,
            succeeded=answer.succeeded,
            response_excerpt=answer.excerpt,
            error=answer.error,
        )
        delivery.last_status_code = answer.status_code
        delivery.last_error = answer.error
        delivery.response_excerpt = answer.excerpt
        delivery.last_attempt_at = answer.attempted_at
        if answer.succeeded:
            delivery.status = DeliveryStatus.SUCCEEDED
            delivery.next_attempt_at = None
            delivery.save()
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failure_count=0)
            return AttemptResult.DELIVERED
        endpoint.failure_count += 1
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failure_count=endpoint.failure_count)
        result = AttemptResult.GAVE_UP
        if delivery.attempts >= max_attempts():
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
        else:
            delay = retry_delay(delivery.attempts)
            delivery.next_attempt_at = timezone.now() + dt.timedelta(seconds=delay)
            result = AttemptResult.RETRY_SCHEDULED
        delivery.save()
        if endpoint.active and endpoint.failure_count >= disable_after():
            _disable(endpoint, answer)
            return AttemptResult.ENDPOINT_DISABLED
        if result is AttemptResult.RETRY_SCHEDULED:
            from webhooks.tasks import enqueue

            transaction.on_commit(lambda: enqueue(delivery_id, countdown=delay))
        return result


def _disable(endpoint: WebhookEndpoint, answer: Answer) -> None:
    """In the caller's transaction: stop the endpoint and its pending deliveries; the practice's
    admins are told after commit."""
    last = f"HTTP {answer.status_code}" if answer.status_code is not None else answer.error
    endpoint.active = False
    endpoint.disabled_at = timezone.now()
    endpoint.disabled_reason = f"{endpoint.failure_count} consecutive failed attempts; the last: {last}"[:300]
    endpoint.save(update_fields=["active", "disabled_at", "disabled_reason"])
    WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.ABANDONED, next_attempt_at=None
    )
    audit.record(
        WebhookAction.ENDPOINT_DISABLED,
        target=endpoint,
        chain=endpoint.practice_id,
        outcome=Outcome.FAILURE,
        details={"failures": endpoint.failure_count, "last": last[:200]},
    )
    transaction.on_commit(lambda: notify_practice_admins(endpoint))


def practice_admin_emails(practice_id: int) -> list[str]:
    members = Membership.objects.filter(practice_id=practice_id, role=PracticeRole.PRACTICE_ADMIN)
    return sorted({m.user.email for m in members.select_related("user") if m.user.email})


def notify_practice_admins(endpoint: WebhookEndpoint) -> int:
    """Email the practice's admins that the endpoint was disabled (the Django admin shows it too)."""
    recipients = practice_admin_emails(endpoint.practice_id)
    if not recipients:
        audit.record(
            WebhookAction.ADMINS_NOTIFY_FAILED,
            target=endpoint,
            chain=endpoint.practice_id,
            outcome=Outcome.FAILURE,
            details={"reason": "no practice admin has an email address"},
        )
        return 0
    message = (
        f"The webhook endpoint {endpoint.url} of your practice was disabled: {endpoint.disabled_reason}.\n\n"
        "No events are sent to it until a practice admin turns it on again (Django admin, Webhook endpoints). "
        "Events that happen while it is off are not sent later."
    )
    try:
        sent = send_mail(
            subject="Webhook endpoint disabled after repeated failures",
            message=message,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
        )
    except Exception as exc:  # the endpoint stays disabled either way; the admin list shows it
        logger.warning("Could not email practice admins about webhook endpoint %s: %s", endpoint.pk, exc)
        audit.record(
            WebhookAction.ADMINS_NOTIFY_FAILED,
            target=endpoint,
            chain=endpoint.practice_id,
            outcome=Outcome.FAILURE,
            details={"reason": str(exc)[:200]},
        )
        return 0
    audit.record(
        WebhookAction.ADMINS_NOTIFIED,
        target=endpoint,
        chain=endpoint.practice_id,
        details={"recipients": len(recipients)},
    )
    return sent


def overdue_ids(limit: int = 500) -> list[int]:
    """Pending deliveries of active endpoints whose next attempt is past due by a sweep period."""
    grace = dt.timedelta(seconds=float(getattr(settings, "WEBHOOKS_SWEEP_SECONDS", 60.0)))
    return list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, endpoint__active=True, next_attempt_at__lte=timezone.now() - grace
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
