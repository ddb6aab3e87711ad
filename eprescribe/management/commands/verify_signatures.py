"""Re-check every prescription that was, or claims to be, signed: state against signature,
digest, Ed25519 signature and the data it was signed over (eprescribe.verification)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

import audit
from audit.models import Outcome
from eprescribe.verification import check_all


class Command(BaseCommand):
    help = (
        "Verify every prescription that carries a signature, a canonical payload or a signed state, "
        "whatever its signed_at says; exit 1 on any mismatch."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        checked = 0
        failures: list[int] = []
        for result in check_all():
            checked += 1
            if not result.ok:
                failures.append(result.prescription_id)
                for problem in result.problems:
                    self.stdout.write(f"MISMATCH prescription {result.prescription_id}: {problem}")
                audit.record(
                    "eprescribe.signature_tamper_detected",
                    target=("eprescribe.prescription", result.prescription_id),
                    outcome=Outcome.FAILURE,
                    details={"problems": result.problems},
                )
        audit.record(
            "eprescribe.signatures_verified",
            outcome=Outcome.FAILURE if failures else Outcome.SUCCESS,
            details={"checked": checked, "mismatches": failures},
        )
        if failures:
            raise CommandError(f"{len(failures)} of {checked} signed prescriptions failed verification.")
        self.stdout.write(self.style.SUCCESS(f"All {checked} signed prescriptions verify."))
