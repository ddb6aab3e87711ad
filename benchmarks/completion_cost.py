"""Statements and CPU of one approved push completion (`mfa.challenges.complete_challenge`).

Usage: .venv/bin/python benchmarks/completion_cost.py [--ceremonies 50] [--prescriptions 1]

Runs in-process against a throw-away test database (SQLite by default; the DATABASE_URL
database's test twin when set, created and destroyed here) and a throw-away var dir (its own
signing key and filesystem broker). It seeds one prescriber per ceremony (own practice,
paired phone, EPCS permission, verified DEA registration, READY C-II prescriptions), opens
a ceremony bound to its review (eprescribe.ceremony_selection / ceremony_binding) and creates
its pending push challenge as mfa.challenges does once ID.me has accepted the push (no ID.me
is contacted). Then it times `complete_challenge(pk, via="push")` for each: the call the push
poller makes once ID.me says "approved". The audit chains are sequenced by a dedicated
sequencer in production-like runs (AUDIT_SEQUENCER_FOLLOWS), so that work is left out here.

Prints figures only: statements inside the completion's transaction, statements in all
(with the after-commit work: queueing the transmission), and CPU ms (time.process_time) per
completion.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# A throw-away var dir (signing key, broker files), removed at the end, unless one is given.
OWN_VAR_DIR = None if os.environ.get("EHR_VAR_DIR") else tempfile.mkdtemp(prefix="ehr-bench-completion-")
if OWN_VAR_DIR:
    os.environ["EHR_VAR_DIR"] = OWN_VAR_DIR
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ehr.settings")
os.environ.setdefault("AUDIT_SEQUENCER_FOLLOWS", "1")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402


class Prescriber:
    def __init__(self, index: int, pharmacy: Any, medication: Any) -> None:
        from epcs_seed import epcs_prescriber

        seeded = epcs_prescriber(
            index, idme_uuid=f"bench-{index}", device_id=f"phone-{index}", device_added_at=timezone.now()
        )
        self.practice, self.user, self.provider = seeded.practice, seeded.user, seeded.provider
        self.device = seeded.device
        self.seeded = seeded
        self.pharmacy = pharmacy
        self.medication = medication

    def ready(self, count: int) -> list[Any]:
        from epcs_seed import ready_prescriptions

        return ready_prescriptions(self.seeded, count, medication=self.medication, pharmacy=self.pharmacy)

    def pending_push(self, count: int, index: int) -> Any:
        """A ceremony bound to its review and its pending push challenge, as the pages leave them."""
        from eprescribe import ceremony_binding as binding
        from eprescribe import ceremony_selection as selection
        from mfa import challenges
        from mfa.models import ChallengeMethod

        ids = [rx.pk for rx in self.ready(count)]
        ceremony = binding.open_ceremony(
            self.provider, self.practice, selection.load_selection(self.provider, self.practice, ids)
        )
        prescriptions = binding.current_prescriptions(ceremony)
        # mfa.challenges.start_push_challenge once ID.me has accepted the push.
        challenge, _ = challenges._create(
            provider=self.provider,
            device=self.device,
            method=ChallengeMethod.PUSH,
            purpose=selection.PURPOSE,
            subject=binding.subject_for(ceremony.pk),
            context={"prescription_ids": [p.pk for p in prescriptions], "ceremony": str(ceremony.pk)},
            expires_at=timezone.now() + dt.timedelta(minutes=10),
            txid=f"bench-tx-{index}",
            match_number="42",
            request=None,
        )
        return challenge


def measure(challenge_ids: list[Any]) -> tuple[list[int], list[int], list[float]]:
    from mfa.challenges import complete_challenge

    in_transaction: list[int] = []
    total: list[int] = []
    cpu_ms: list[float] = []
    original = connection.run_and_clear_commit_hooks
    marks: list[int] = []
    for pk in challenge_ids:
        with CaptureQueriesContext(connection) as queries:

            def marked(queries: CaptureQueriesContext = queries) -> None:
                marks.append(len(queries.captured_queries))
                original()

            connection.run_and_clear_commit_hooks = marked  # type: ignore[method-assign]
            start = time.process_time()
            approved, refusal = complete_challenge(pk, via="push")
            cpu_ms.append((time.process_time() - start) * 1000)
            connection.run_and_clear_commit_hooks = original  # type: ignore[method-assign]
        if not approved:
            raise SystemExit(f"challenge {pk} was not approved: {refusal}")
        in_transaction.append(marks[-1])
        total.append(len(queries.captured_queries))
    return in_transaction, total, cpu_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ceremonies", type=int, default=50, help="completions timed (default 50)")
    parser.add_argument("--prescriptions", type=int, default=1, help="prescriptions per ceremony (default 1)")
    parser.add_argument("--show-sql", action="store_true", help="print the statements of the last completion")
    args = parser.parse_args()

    from epcs_seed import pharmacy_and_medication

    from eprescribe.models import Prescription, PrescriptionState

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        pharmacy, medication = pharmacy_and_medication()
        warm = 3
        prescribers = [Prescriber(i, pharmacy, medication) for i in range(args.ceremonies + warm)]
        challenge_ids = [p.pending_push(args.prescriptions, i).pk for i, p in enumerate(prescribers)]
        measure(challenge_ids[:warm])  # imports, key load, broker directories
        in_transaction, total, cpu_ms = measure(challenge_ids[warm:])
        signed = Prescription.objects.filter(state=PrescriptionState.SIGNED).count()
        expected = len(challenge_ids) * args.prescriptions
        if signed != expected:
            raise SystemExit(f"signed {signed} of {expected} prescriptions")
        if args.show_sql:
            from mfa.challenges import complete_challenge

            extra = Prescriber(len(prescribers), pharmacy, medication).pending_push(args.prescriptions, 9999)
            with CaptureQueriesContext(connection) as queries:
                complete_challenge(extra.pk, via="push")
            for query in queries.captured_queries:
                print(query["sql"][:220])
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        if OWN_VAR_DIR:
            shutil.rmtree(OWN_VAR_DIR, ignore_errors=True)

    print(f"database: {connection.vendor}; completions: {len(cpu_ms)}; prescriptions each: {args.prescriptions}")
    print(f"statements in the transaction: median {statistics.median(in_transaction):.0f}, max {max(in_transaction)}")
    print(f"statements in all (with after-commit work): median {statistics.median(total):.0f}, max {max(total)}")
    ordered = sorted(cpu_ms)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    median, mean = statistics.median(cpu_ms), statistics.mean(cpu_ms)
    print(f"CPU ms per completion: median {median:.1f}, p90 {p90:.1f}, mean {mean:.1f}")


if __name__ == "__main__":
    main()
