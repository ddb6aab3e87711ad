"""From committed audit events to queued deliveries (called by audit through `audit.subscribe`).

Runs in the thread that committed, after commit: it looks only at events whose action is in
`webhooks.events.EVENT_FOR_ACTION` and that belong to a practice (their chain id), writes one
delivery per matching active endpoint of that practice and queues it. An event of no practice
(chain None) is never delivered: there is no practice whose admin registered an endpoint for it.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from django.utils import timezone

from webhooks.events import EVENT_FOR_ACTION, payload_for
from webhooks.models import WebhookDelivery, WebhookEndpoint

if TYPE_CHECKING:
    from audit.models import AuditEvent

logger = logging.getLogger(__name__)


def new_message_id() -> str:
    """The Standard Webhooks `webhook-id`: unique per message, the same on every retry of it."""
    return f"msg_{uuid.uuid4().hex}"


def on_audit_events(events: list[AuditEvent]) -> None:
    """The `audit.subscribe` callback."""
    queue_deliveries(events)


def queue_deliveries(events: list[AuditEvent]) -> list[WebhookDelivery]:
    """Write and queue the deliveries the events call for; returns them."""
    wanted = [event for event in events if event.action in EVENT_FOR_ACTION and event.chain_id is not None]
    if not wanted:
        return []
    practices = {event.chain_id for event in wanted if event.chain_id is not None}
    endpoints = list(WebhookEndpoint.objects.filter(practice_id__in=practices, active=True))
    now = timezone.now()
    rows: list[WebhookDelivery] = []
    for event in wanted:
        mapping = EVENT_FOR_ACTION[event.action]
        for endpoint in endpoints:
            if endpoint.practice_id == event.chain_id and mapping.event.value in endpoint.events:
                rows.append(
                    WebhookDelivery(
                        endpoint=endpoint,
                        message_id=new_message_id(),
                        audit_event_id=event.pk,
                        event_type=mapping.event.value,
                        payload=payload_for(event, mapping),
                        next_attempt_at=now,
                    )
                )
    if not rows:
        return []
    created = WebhookDelivery.objects.bulk_create(rows)
    from webhooks.tasks import enqueue

    for delivery in created:
        enqueue(delivery.pk)
    return created
