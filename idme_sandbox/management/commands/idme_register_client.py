"""Register (or update) a relying party / partner with the ID.me sandbox. Idempotent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from idme_sandbox.oidc.clients import register_client


class Command(BaseCommand):
    help = "Register or update an OIDC client of the ID.me sandbox (secrets are stored hashed)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--client-id", required=True)
        parser.add_argument("--secret", help="Client secret (confidential clients; kept if omitted on update)")
        parser.add_argument("--name", required=True, help="Shown on the consent screen")
        parser.add_argument("--redirect-uri", action="append", required=True, dest="redirect_uris")
        parser.add_argument("--return-uri", action="append", default=[], dest="return_uris")
        parser.add_argument("--public", action="store_true", help="A public client (no secret; PKCE required)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            client, created = register_client(
                client_id=options["client_id"],
                secret=options["secret"],
                name=options["name"],
                redirect_uris=options["redirect_uris"],
                return_uris=options["return_uris"],
                public=options["public"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{'Registered' if created else 'Updated'} client {client.client_id} ({client.name}).")
