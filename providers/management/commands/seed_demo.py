"""Idempotent demo data: running it twice gives the same data.

Other apps add to the demo with their own `seed_<app>` commands, called here by name so
that no EHR app imports the ID.me sandbox (they meet only over HTTP).
"""

from typing import Any

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand
from django.db import transaction

from providers.demo import DEMO_PASSWORD, DEMO_PEOPLE, seed_people

# Run in this order when present; the sandbox comes first so the EHR's client exists.
APP_SEED_COMMANDS = ("seed_idme_sandbox", "seed_mfa", "seed_eprescribe")


class Command(BaseCommand):
    help = "Create or refresh the demo accounts and data."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            seed_people()
        available = get_commands()
        for name in APP_SEED_COMMANDS:
            if name == "seed_idme_sandbox" and not settings.IDME_SANDBOX_ENABLED:
                continue
            if name in available:
                call_command(name, stdout=self.stdout)
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for person in DEMO_PEOPLE:
            self.stdout.write(f"  {person.username:<14} {person.first_name} {person.last_name}")
