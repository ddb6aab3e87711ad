"""Celery task: the daily sweep that revokes EPCS permissions left without a current DEA
registration (DEA-04). Signing already stops the same day through providers.epcs."""

from __future__ import annotations

from celery import shared_task

from epcs_access.services import revoke_lapsed_permissions


@shared_task(name="epcs_access.revoke_lapsed_epcs_permissions")
def revoke_lapsed_epcs_permissions() -> int:
    return revoke_lapsed_permissions()
