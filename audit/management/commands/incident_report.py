import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from audit.services import generate_incident_report


class Command(BaseCommand):
    help = "Produce the daily security incident report (default: yesterday)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--day", type=dt.date.fromisoformat, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        day = options["day"] or timezone.localdate() - dt.timedelta(days=1)
        report = generate_incident_report(day)
        self.stdout.write(
            f"{report.day}: {report.event_count} events, {report.security_event_count} security events, "
            f"chain {'intact' if report.chain_intact else 'BROKEN'}"
        )
