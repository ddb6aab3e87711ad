"""Celery tasks: deliver one webhook attempt; the beat sweep re-queues what is due."""

from __future__ import annotations

import logging

from celery import shared_task

from webhooks import delivery

logger = logging.getLogger(__name__)


@shared_task(name="webhooks.deliver", acks_late=True)
def deliver_webhook(delivery_id: int) -> str:
    """One attempt of one delivery; a failure schedules the next attempt itself (backoff)."""
    return delivery.attempt(delivery_id).value


@shared_task(name="webhooks.sweep")
def sweep_due_deliveries() -> int:
    """Beat runs this every WEBHOOKS_SWEEP_SECONDS: a delivery whose queued message was lost
    (broker restart, crash between commit and queueing) is queued again."""
    due = delivery.overdue_ids()
    for delivery_id in due:
        enqueue(delivery_id)
    return len(due)


def enqueue(delivery_id: int, countdown: float = 0) -> None:
    try:
        deliver_webhook.apply_async(args=(delivery_id,), countdown=countdown, retry=False)
    except Exception:  # the sweep queues it again later
        logger.warning("Could not queue webhook delivery %s", delivery_id, exc_info=True)
