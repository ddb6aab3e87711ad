"""Celery task: transmit a signed prescription, retrying with exponential backoff."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.conf import settings

from eprescribe.transmission import TransmissionRetryable, record_final_failure, transmit

# Below the default (0, the highest on Redis; the filesystem broker has no priorities): a
# worker takes the completion of a clinician's pending signing, who waits on the page, before
# the transmission of a prescription already signed, which waits on no one (docs/performance.md).
TRANSMISSION_PRIORITY = 6


class TransmitTask(Task):
    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # Retries are exhausted (or something unexpected broke): show it to the prescriber.
        prescription_id = args[0] if args else kwargs.get("prescription_id")
        if prescription_id is not None:
            record_final_failure(int(prescription_id), str(exc)[:300] or "The transmission failed.")


@shared_task(
    name="eprescribe.transmit_prescription",
    bind=True,
    base=TransmitTask,
    autoretry_for=(TransmissionRetryable,),
    max_retries=settings.EPCS_TRANSMISSION_MAX_RETRIES,
    retry_backoff=settings.EPCS_TRANSMISSION_BACKOFF_SECONDS,
    retry_backoff_max=settings.EPCS_TRANSMISSION_BACKOFF_MAX_SECONDS,
    retry_jitter=True,
    acks_late=True,
    priority=TRANSMISSION_PRIORITY,
)
def transmit_prescription(self: Task, prescription_id: int) -> str:
    return transmit(int(prescription_id), attempt=self.request.retries + 1)


@shared_task(name="eprescribe.transmit_batch", acks_late=True, priority=TRANSMISSION_PRIORITY)
def transmit_batch(prescription_ids: list[int]) -> int:
    """One message per signing; each prescription then has its own task and retries."""
    for prescription_id in prescription_ids:
        transmit_prescription.delay(int(prescription_id))
    return len(prescription_ids)
