import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from audit.management.commands._chains import EVERY_CHAIN, chain_argument
from audit.services import generate_incident_report, known_chains


class Command(BaseCommand):
    help = "Produce the daily security incident report of each audit chain (default: yesterday, every chain)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--day", type=dt.date.fromisoformat, default=None)
        parser.add_argument(
            "--chain", type=chain_argument, default=EVERY_CHAIN, help="a practice id or 'none' (default: every chain)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        day = options["day"] or timezone.localdate() - dt.timedelta(days=1)
        chains = known_chains() if options["chain"] is EVERY_CHAIN else [options["chain"]]
        for chain_id in chains:
            report = generate_incident_report(day, chain_id)
            self.stdout.write(
                f"{report.day} chain {'none' if chain_id is None else chain_id}: {report.event_count} events, "
                f"{report.security_event_count} security events, "
                f"chain {'intact' if report.chain_intact else 'BROKEN'}"
                + (f", checkpoint at {report.checkpoint.position}" if report.checkpoint else ", no checkpoint")
            )
