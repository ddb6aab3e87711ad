from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audit.sequencer import follow, sweep


class Command(BaseCommand):
    help = "Give every committed audit event its chain position and hash; sign due checkpoints."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--follow",
            action="store_true",
            help="run as the dedicated sequencer: seal waiting events every --interval seconds until stopped",
        )
        parser.add_argument(
            "--interval", type=float, default=None, help="seconds between rounds (AUDIT_SEQUENCER_POLL_SECONDS)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["follow"]:
            self.stdout.write("Sequencing audit events until stopped.")
            follow(options["interval"])
            return
        result = sweep()
        self.stdout.write(f"{result.sequenced} events sequenced, {result.checkpoints} checkpoints signed.")
