"""Add a new RS256 signing key; older keys stop signing but stay in the JWKS for verification."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from idme_sandbox.models import SigningKey


class Command(BaseCommand):
    help = "Rotate the sandbox's ID token signing key (old keys stay published for verification)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--unpublish-inactive",
            action="store_true",
            help="Also remove keys that no longer sign from the JWKS (after tokens they signed expired).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            old = list(SigningKey.objects.select_for_update().filter(active=True))
            new = SigningKey.generate()
            SigningKey.objects.filter(pk__in=[key.pk for key in old]).update(active=False)
            if options["unpublish_inactive"]:
                SigningKey.objects.exclude(pk=new.pk).update(published=False)
        self.stdout.write(f"New signing key {new.kid} is active; {len(old)} older key(s) no longer sign.")
