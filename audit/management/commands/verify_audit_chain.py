from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.services import verify_chain


class Command(BaseCommand):
    help = "Recompute the audit trail's hash chain and report the first tampered event."

    def handle(self, *args: Any, **options: Any) -> None:
        result = verify_chain()
        if not result.intact:
            raise CommandError(f"Audit chain broken at event {result.first_broken_id}")
        self.stdout.write(f"Audit chain intact: {result.events_checked} events checked.")
