"""Write one audit chain as JSON lines, for an outside auditor (docs/audit.md)."""

import json
from pathlib import Path
from typing import Any, Protocol

from django.core.management.base import BaseCommand, CommandParser

from audit.keys import public_keys_pem
from audit.management.commands._chains import chain_argument
from audit.models import AuditCheckpoint, AuditEvent
from audit.sequencer import chain_filter, checkpoint_record, event_record, sweep


class Writer(Protocol):
    def write(self, text: str) -> Any: ...


class Command(BaseCommand):
    help = (
        "Export one audit chain (its sequenced events and signed checkpoints) as JSON lines; "
        "audit/verify_export.py checks it with the public key alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chain", type=chain_argument, required=True, help="a practice id, or 'none'")
        parser.add_argument("--output", type=Path, help="file to write (default: standard output)")
        parser.add_argument("--public-key", type=Path, help="also write the trusted public keys (PEM) to this file")

    def handle(self, *args: Any, **options: Any) -> None:
        chain_id = options["chain"]
        sweep()
        if options["public_key"]:
            options["public_key"].write_text(public_keys_pem())
        if options["output"]:
            with options["output"].open("w", encoding="utf-8") as handle:
                count = self.export(chain_id, handle)
            self.stderr.write(f"{count} events written to {options['output']}")
        else:
            self.export(chain_id, self.stdout)

    def export(self, chain_id: int | None, out: Writer) -> int:
        # Checkpoints first: a checkpoint signed while the events are read must not name a
        # position beyond the exported events.
        checkpoints = [checkpoint_record(c) for c in AuditCheckpoint.objects.filter(chain_filter(chain_id))]
        events = AuditEvent.objects.filter(chain_filter(chain_id), position__isnull=False).order_by("position")
        count = 0
        for event in events.iterator(chunk_size=2000):
            out.write(json.dumps({"type": "event", **event_record(event)}, sort_keys=True) + "\n")
            count += 1
        for checkpoint in checkpoints:
            out.write(json.dumps({"type": "checkpoint", **checkpoint}, sort_keys=True) + "\n")
        return count
