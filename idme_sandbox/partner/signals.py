"""Record a phone's answer to a partner's push as a PartnerDecision (ASVS-09).

The answer itself is checked in `idme_sandbox.authenticators.answer_push` (signature, number,
expiry, single answer); when it changes a partner push's status, this records the outcome in
the same transaction.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save

from idme_sandbox.models import PartnerDecision, PushStatus, PushTransaction

_ANSWERS = {PushStatus.APPROVED: "approved", PushStatus.DENIED: "denied", PushStatus.EXPIRED: "expired"}


def record_push_answer(sender: type[PushTransaction], instance: PushTransaction, **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    if instance.client_id is None or kwargs.get("created") or not update_fields or "status" not in update_fields:
        return
    decision = _ANSWERS.get(PushStatus(instance.status)) if instance.status in PushStatus.values else None
    if decision is None:
        return
    PartnerDecision.objects.create(
        client_id=instance.client_id,
        account_id=instance.account_id,
        device_id=instance.device_id,
        kind="push_answer",
        decision=decision,
        reason="answered on the phone" if instance.answered_at else "expired before an answer",
        txid=instance.txid,
    )


def connect() -> None:
    post_save.connect(record_push_answer, sender=PushTransaction, dispatch_uid="idme_sandbox.partner.push_answer")
