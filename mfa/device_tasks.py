"""Celery task: sync one provider's device mirror in the background (eRx Info never waits).

Registered from MfaConfig.ready() (mfa/tasks.py belongs to the push poller).
"""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="mfa.sync_provider_devices", acks_late=True, ignore_result=True)
def sync_provider_devices(provider_id: int) -> str:
    from idme_client import IdmeError
    from mfa.services import sync_devices
    from providers.models import Provider

    provider = Provider.objects.filter(pk=provider_id).first()
    if provider is None:
        return "no such provider"
    try:
        result = sync_devices(provider)
    except IdmeError as exc:
        # sync_devices recorded the failure; eRx Info shows the mirror with a warning.
        logger.warning("Device sync for provider %s failed: %s", provider_id, exc)
        return "unavailable"
    return result.summary()
