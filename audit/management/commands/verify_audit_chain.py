from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.management.commands._chains import EVERY_CHAIN, chain_argument
from audit.sequencer import sweep
from audit.services import known_chains, verify_chain


class Command(BaseCommand):
    help = (
        "Sequence what is waiting, then recompute each audit chain and check every signed checkpoint: "
        "reports edited, deleted, reordered or re-hashed events and a deleted tail."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--chain", type=chain_argument, default=EVERY_CHAIN, help="a practice id or 'none' (default: every chain)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        sweep()
        chains = known_chains() if options["chain"] is EVERY_CHAIN else [options["chain"]]
        broken = []
        for chain_id in chains:
            result = verify_chain(chain_id)
            name = "none" if chain_id is None else chain_id
            if result.intact:
                self.stdout.write(
                    f"Audit chain {name} intact: {result.events_checked} events, "
                    f"{result.checkpoints_checked} signed checkpoints checked."
                )
                continue
            broken.append(name)
            for finding in result.findings:
                self.stderr.write(f"Audit chain {name}: {finding}")
        if broken:
            first = ", ".join(str(name) for name in broken)
            raise CommandError(f"Audit chain broken: {first}")
