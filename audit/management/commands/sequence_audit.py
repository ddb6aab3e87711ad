from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.sequencer import follow, oldest_waiting_age, sweep


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
        parser.add_argument(
            "--check",
            type=float,
            metavar="SECONDS",
            help="sequence nothing; fail when an event has waited for its place longer than SECONDS "
            "(the dedicated sequencer's health check)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["check"] is not None:
            age = oldest_waiting_age()
            if age is not None and age.total_seconds() > options["check"]:
                raise CommandError(f"An audit event has waited {age.total_seconds():.1f} s for its place in its chain.")
            self.stdout.write("No audit event waits too long for its place.")
            return
        if options["follow"]:
            self.stdout.write("Sequencing audit events until stopped.")
            follow(options["interval"])
            return
        result = sweep()
        self.stdout.write(f"{result.sequenced} events sequenced, {result.checkpoints} checkpoints signed.")
