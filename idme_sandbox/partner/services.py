"""What the partner API does: reach linked users, check codes, send and read pushes.

The authenticator rules (replay guard, lockout with backoff, push expiry and rate limits,
signed answers) live in `idme_sandbox.authenticators`, shared with ID.me sign-in; this module
adds the partner's view of them: only users who linked the client, only the client's own
transactions, and a `PartnerDecision` row for every decision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from idme_sandbox import authenticators
from idme_sandbox.models import Account, Client, Device, DeviceKind, PartnerDecision, PushStatus, PushTransaction
from idme_sandbox.partner.errors import (
    PartnerError,
    RateLimited,
    device_not_found,
    invalid_request,
    transaction_not_found,
    user_not_found,
)
from idme_sandbox.partner.payload import looks_like_id

EPCS_DEVICE_KINDS = (DeviceKind.TOTP, DeviceKind.PUSH)
# TotpDecision.decision -> PartnerDecision.decision
_TOTP_DECISIONS = {
    "allow": "allow",
    "invalid_code": "deny",
    "code_replayed": "replay",
    "device_locked": "locked",
}


@dataclass(frozen=True)
class CodeCheck:
    allowed: bool
    reason: str | None
    locked_until: dt.datetime | None


def record(
    *,
    client: Client,
    account: Account,
    kind: str,
    decision: str,
    device: Device | None = None,
    reason: str = "",
    txid: str = "",
) -> PartnerDecision:
    return PartnerDecision.objects.create(
        client=client, account=account, device=device, kind=kind, decision=decision, reason=reason[:200], txid=txid
    )


def linked_account(client: Client, user_uuid: str) -> Account:
    """The account with this uuid that consented to `client`; 404 user_not_found for all others."""
    if not looks_like_id(user_uuid):
        raise user_not_found()
    account = Account.objects.filter(uuid=user_uuid, consents__client=client).first()
    if account is None:
        raise user_not_found()
    return account


def epcs_devices(account: Account) -> list[Device]:
    """Code generators and push devices, oldest first (text message methods are not EPCS devices)."""
    return list(account.devices.filter(kind__in=EPCS_DEVICE_KINDS).order_by("added_at", "id"))


def _device(account: Account, device_id: str, kind: DeviceKind) -> Device | None:
    if not looks_like_id(device_id):
        return None
    return account.devices.filter(device_id=device_id, kind=kind).first()


def check_code(client: Client, account: Account, device_id: str, code: str) -> CodeCheck:
    """Verify a TOTP code through the shared authenticator rules; record the decision."""
    with transaction.atomic():
        device = _device(account, device_id, DeviceKind.TOTP)
        outcome: authenticators.TotpDecision | None = None
        if device is not None:
            try:
                outcome = authenticators.verify_totp(device, code.strip())
            except authenticators.WrongDeviceKind:  # a code generator without a secret
                outcome = None
        if outcome is None:
            record(client=client, account=account, kind="totp_verify", decision="deny", reason="device_not_found")
        else:
            record(
                client=client,
                account=account,
                device=device,
                kind="totp_verify",
                decision=_TOTP_DECISIONS.get(outcome.decision, "deny"),
                reason=outcome.decision,
            )
    # Raised after the block, so the decision stays recorded.
    if outcome is None:
        raise device_not_found("code generator")
    if outcome.decision == "allow":
        return CodeCheck(allowed=True, reason=None, locked_until=None)
    return CodeCheck(allowed=False, reason=outcome.decision, locked_until=outcome.locked_until)


def send_push(
    client: Client, account: Account, device_id: str, title: str, message: str, expires_in: int
) -> PushTransaction:
    """Create a push through the shared rules (expiry, 3 pending / 10 per 10 minutes); record it."""
    refusal: PartnerError | None = None
    push: PushTransaction | None = None
    with transaction.atomic():
        device = _device(account, device_id, DeviceKind.PUSH)
        try:
            if device is None:
                raise authenticators.WrongDeviceKind("No such push device.")
            push = authenticators.create_push(account, device, title, message, client=client, expires_in=expires_in)
        except authenticators.WrongDeviceKind:
            # Unknown, another kind, or a push device that was never paired with a key.
            record(client=client, account=account, kind="push_create", decision="deny", reason="device_not_found")
            refusal = device_not_found("push device")
        except authenticators.PushRequestInvalid as exc:
            refusal = invalid_request(exc.message)
        except authenticators.PushRateLimited as exc:
            retry_after = max(1, int(exc.retry_after))
            record(
                client=client,
                account=account,
                device=device,
                kind="push_create",
                decision="rate_limited",
                reason=f"retry after {retry_after} s",
            )
            refusal = RateLimited(retry_after)
        else:
            record(
                client=client,
                account=account,
                device=device,
                kind="push_create",
                decision="created",
                reason=f"expires in {expires_in} s",
                txid=push.txid,
            )
    # Raised after the block, so the refusal stays recorded.
    if refusal is not None:
        raise refusal
    assert push is not None
    return push


def own_transaction(client: Client, txid: str) -> PushTransaction:
    """A push this client created; 404 transaction_not_found for any other."""
    if not looks_like_id(txid):
        raise transaction_not_found()
    push = PushTransaction.objects.filter(txid=txid, client=client).first()
    if push is None:
        raise transaction_not_found()
    return push


def own_transactions(client: Client, txids: Sequence[str]) -> tuple[list[PushTransaction], list[str]]:
    """The client's pushes among `txids` in request order, and the txids it has no push for."""
    wanted = [txid for txid in txids if looks_like_id(txid)]
    by_txid = {push.txid: push for push in PushTransaction.objects.filter(client=client, txid__in=wanted)}
    found = [by_txid[txid] for txid in txids if txid in by_txid]
    missing = [txid for txid in txids if txid not in by_txid]
    return found, missing


def cancel(client: Client, txid: str) -> PushTransaction:
    """Cancel the client's pending push; a push already answered or expired keeps its status."""
    push = own_transaction(client, txid)
    with transaction.atomic():
        before = push.current_status()
        if before == PushStatus.PENDING:
            authenticators.cancel_push(push)
        push.refresh_from_db()
        after = push.current_status()
        record(
            client=client,
            account=push.account,
            device=push.device,
            kind="push_cancel",
            decision="cancelled" if before == PushStatus.PENDING and after == "cancelled" else "no_change",
            reason=f"{before} -> {after}",
            txid=push.txid,
        )
    return push
