"""Celery task: the daily sweep that revokes EPCS permissions left without a current DEA
registration (DEA-04). Signing already stops the same day through providers.epcs."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="providers.revoke_lapsed_epcs_permissions")
def revoke_lapsed_epcs_permissions() -> int:
    from providers.permissions_services import revoke_lapsed_permissions

    return revoke_lapsed_permissions()
