from typing import Any

from django.core.management.base import BaseCommand

from audit.sequencer import sweep


class Command(BaseCommand):
    help = "Give every committed audit event its chain position and hash; sign due checkpoints."

    def handle(self, *args: Any, **options: Any) -> None:
        result = sweep()
        self.stdout.write(f"{result.sequenced} events sequenced, {result.checkpoints} checkpoints signed.")
