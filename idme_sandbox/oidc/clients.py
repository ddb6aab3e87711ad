"""Registering relying parties / partners (the management command, the seed, test fixtures)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from idme_sandbox.models import Client


@transaction.atomic
def register_client(
    *,
    client_id: str,
    name: str,
    redirect_uris: Iterable[str],
    return_uris: Iterable[str] = (),
    secret: str | None = None,
    public: bool = False,
) -> tuple[Client, bool]:
    """Create the client, or update the one with this id. Returns (client, created).

    The secret is stored hashed; a public client has none (and must use PKCE).
    """
    if not public and not secret and not Client.objects.filter(client_id=client_id).exists():
        raise ValueError("A confidential client needs a secret (or register it as public).")
    client = Client.objects.select_for_update().filter(client_id=client_id).first()
    created = client is None
    if client is None:
        client = Client(client_id=client_id)
    client.name = name
    client.redirect_uris = "\n".join(dict.fromkeys(u.strip() for u in redirect_uris if u.strip()))
    client.return_uris = "\n".join(dict.fromkeys(u.strip() for u in return_uris if u.strip()))
    client.is_public = public
    if public:
        client.client_secret_hash = ""
    elif secret and not client.check_client_secret_value(secret):
        client.set_client_secret(secret)
    client.save()
    return client, created
