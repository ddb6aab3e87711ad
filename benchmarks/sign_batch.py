"""Server time to sign 1 vs 25 prescriptions in one call of `sign_prescriptions`.

Usage: .venv/bin/python benchmarks/sign_batch.py [--rounds 30] [--batch 25]

Runs in-process against a throw-away test database (created and destroyed here) and a
throw-away var dir (its own signing key file and filesystem broker). Each round prepares
READY C-II prescriptions for one patient through eprescribe.services, then times only the
signing call: row locks, the EPCS permission check, the 2FA proof check, the audit write
check, canonical form + SHA-256 + Ed25519 for each prescription, the audit events, the
commit, and queueing the transmissions after commit (the broker write is part of the
server's time; no worker runs, so nothing is sent). The 2FA proof is an approved
"epcs_sign" challenge row, as the ceremony leaves it just before it calls the service.

Prints p50/p95 of both and the ratio of the medians (target: 25 costs <= 3x 1).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("EHR_VAR_DIR", tempfile.mkdtemp(prefix="ehr-bench-sign-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ehr.settings")
os.environ.setdefault("EHR_TESTING", "1")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class World:
    def __init__(self) -> None:
        from epcs_seed import epcs_prescriber, pharmacy_and_medication

        self.seeded = epcs_prescriber(0, idme_uuid="bench-uuid", device_id="bench", device_added_at=timezone.now())
        self.provider, self.practice = self.seeded.provider, self.seeded.practice
        self.pharmacy, self.medication = pharmacy_and_medication()

    def ready(self, count: int) -> list[object]:
        from epcs_seed import ready_prescriptions

        return ready_prescriptions(self.seeded, count, medication=self.medication, pharmacy=self.pharmacy)

    def challenge_id(self) -> str:
        from mfa.models import ChallengeMethod, ChallengeStatus, VerificationChallenge

        now = timezone.now()
        return str(
            VerificationChallenge.objects.create(
                provider=self.provider,
                device_label="Bench phone (Push Notification 2FA)",
                idme_device_id="bench",
                purpose="epcs_sign",
                subject=f"ceremony:bench-{now.timestamp()}",
                method=ChallengeMethod.PUSH,
                status=ChallengeStatus.APPROVED,
                expires_at=now + dt.timedelta(minutes=2),
                completed_at=now,
            ).pk
        )

    def timed_sign(self, count: int) -> float:
        from eprescribe import services

        prescriptions = self.ready(count)
        challenge_id = self.challenge_id()
        start = time.perf_counter()
        signed = services.sign_prescriptions(
            provider=self.provider,
            practice=self.practice,
            prescriptions=prescriptions,  # type: ignore[arg-type]
            device_label="Bench phone (Push Notification 2FA)",
            challenge_id=challenge_id,
        )
        elapsed = (time.perf_counter() - start) * 1000
        if len(signed) != count:
            raise SystemExit(f"signed {len(signed)} of {count}")
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="timed signings of each size (default 30)")
    parser.add_argument("--batch", type=int, default=25)
    args = parser.parse_args()

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        world = World()
        for _ in range(3):  # warm: key load, imports, connections
            world.timed_sign(1)
            world.timed_sign(args.batch)
        one: list[float] = []
        many: list[float] = []
        for _ in range(args.rounds):  # interleaved, so both see the same machine load
            one.append(world.timed_sign(1))
            many.append(world.timed_sign(args.batch))
        from django.core.management import call_command

        call_command("verify_signatures", stdout=open(os.devnull, "w"))  # noqa: SIM115
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    print(f"database: {connection.vendor}; rounds: {args.rounds}")
    print(f"{'signing call':<34} {'p50 ms':>9} {'p95 ms':>9}")
    for label, samples in (("1 prescription", one), (f"{args.batch} prescriptions", many)):
        print(f"{label:<34} {statistics.median(samples):>9.1f} {percentile(samples, 0.95):>9.1f}")
    ratio = statistics.median(many) / statistics.median(one)
    print(f"ratio {args.batch} / 1 (medians): {ratio:.2f}x (target <= 3x): {'met' if ratio <= 3 else 'NOT met'}")
    print(f"per prescription in the batch: {statistics.median(many) / args.batch:.2f} ms")


if __name__ == "__main__":
    main()
