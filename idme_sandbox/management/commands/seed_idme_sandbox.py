"""Register the EHR's client with the sandbox, seed the demo ID.me accounts and the sandbox
operator. Idempotent."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from idme_sandbox.oidc.clients import register_client
from idme_sandbox.operator.services import seed_operator

EHR_HOSTS = ("http://127.0.0.1:8000", "http://localhost:8000")
EHR_CLIENT_NAME = "EHR Demo Practice"


class Command(BaseCommand):
    help = "Register the EHR's OIDC client, the demo ID.me accounts and the sandbox operator (safe to run again)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        client, created = register_client(
            client_id=str(settings.IDME_SANDBOX_EHR_CLIENT_ID),
            secret=str(settings.IDME_SANDBOX_EHR_CLIENT_SECRET),
            name=EHR_CLIENT_NAME,
            redirect_uris=[f"{host}/account/idme/callback/" for host in EHR_HOSTS],
            return_uris=[f"{host}/mfa/devices/returned/" for host in EHR_HOSTS],
        )
        self.stdout.write(f"{'Registered' if created else 'Updated'} client {client.client_id} ({client.name}).")
        from idme_sandbox import demo

        seed = getattr(demo, "seed_demo_accounts", None)
        if callable(seed):
            seed()
            self.stdout.write("Seeded the demo ID.me accounts.")
        from idme_sandbox.dea_registry.demo import seed_demo_registry

        seed_demo_registry(api_key=str(settings.IDME_SANDBOX_DEA_REGISTRY_API_KEY))
        self.stdout.write("Seeded the DEA registry's demo registrations.")
        operator = seed_operator()
        self.stdout.write(f"Sandbox operator {operator.username} (password from IDME_SANDBOX_OPERATOR_PASSWORD).")
