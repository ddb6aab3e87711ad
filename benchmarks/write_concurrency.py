"""Audited writes across chains (practices) on PostgreSQL: no global lock, throughput, lag.

Usage:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ehr_bench \\
        .venv/bin/python benchmarks/write_concurrency.py [--seconds 4]

Runs in-process against a throw-away test database (created and destroyed here). Each writer
is a thread with its own connection and its own user row; one write transaction updates that
row and, when audited, records one event through `audit.record(..., chain=...)` (the sequencer
then runs after commit, in the writer's thread, as in a request). Prints:

1. a transaction of chain 1 held open for 2 s: how long an audited write in chain 2 takes;
2. transactions per second with 1, 4 and 16 writers, each in its own chain, with and without
   the audit event, in the same run, and the ratio at 16 (target >= 60 %);
3. sequencing lag (commit -> chain position committed) p50/p95 at each rate, plus 16
   writers sharing one chain (target p95 <= 1 s at the highest rate).

Figures only: nothing is asserted (docs/performance.md records them).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("EHR_VAR_DIR", tempfile.mkdtemp(prefix="ehr-bench-writes-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ehr.settings")
os.environ.setdefault("EHR_TESTING", "1")

import django  # noqa: E402

django.setup()

from django.db import connection, connections, transaction  # noqa: E402

import audit  # noqa: E402
from audit.models import AuditEvent  # noqa: E402
from providers.models import User  # noqa: E402


def percentile(samples: list[float], fraction: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def write(user_id: int, n: int, chain: int | None, lags: list[float] | None) -> None:
    """One business transaction: update the writer's row; audited: one event in `chain`."""
    committed: list[float] = []
    with transaction.atomic():
        User.objects.filter(pk=user_id).update(first_name=f"w{n % 1000}")
        if chain is not None:
            # Registered before audit.record's own hook, so it runs first: the commit time.
            transaction.on_commit(lambda: committed.append(time.perf_counter()))
            audit.record("bench.write", chain=chain, target=("providers.user", user_id), details={"n": n})
    if lags is not None and committed:
        lags.append(time.perf_counter() - committed[0])  # the sequencer has committed by now


def run(users: list[int], seconds: float, chains: list[int] | None) -> tuple[float, list[float]]:
    """`len(users)` writers for `seconds`; chains None: no audit. Returns (tx/s, lags)."""
    counts = [0] * len(users)
    lags: list[float] = []
    start, stop = threading.Barrier(len(users) + 1), threading.Event()

    def writer(i: int) -> None:
        try:
            start.wait()
            n = 0
            while not stop.is_set():
                write(users[i], n, chains[i] if chains else None, lags if chains else None)
                n += 1
            counts[i] = n
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(len(users))]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - began), lags


def held_open(users: list[int]) -> float:
    """Chain 1's transaction stays open 2 s; the time of one audited write in chain 2."""
    holding, result = threading.Event(), []

    def hold() -> None:
        try:
            with transaction.atomic():
                User.objects.filter(pk=users[0]).update(first_name="held")
                audit.record("bench.held", chain=1)
                holding.set()
                time.sleep(2)
        finally:
            connections.close_all()

    def other() -> None:
        try:
            began = time.perf_counter()
            write(users[1], 0, 2, None)
            result.append(time.perf_counter() - began)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait()
    time.sleep(0.2)
    writer = threading.Thread(target=other)
    writer.start()
    writer.join()
    holder.join()
    return result[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each throughput run")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run on PostgreSQL: set DATABASE_URL=postgres://... (SQLite runs one writer at a time by design).")
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        users = [User.objects.create_user(f"bench.writer{i}").pk for i in range(16)]
        connections.close_all()
        for n in range(20):  # warm: imports, the signing key, the first checkpoint of each chain
            write(users[n % 16], n, 100 + n % 16, None)
        print(f"database: postgresql; {args.seconds:g} s per run; machine load {os.getloadavg()[0]:.1f}")
        print(f"1. audited write in chain 2 while chain 1's transaction is open 2 s: {held_open(users):.3f} s")
        print("2./3.  writers  plain tx/s  audited tx/s  ratio   lag p50 ms  lag p95 ms")
        for writers in (1, 4, 16):
            plain, _ = run(users[:writers], args.seconds, None)
            audited, lags = run(users[:writers], args.seconds, [200 + i for i in range(writers)])
            print(
                f"       {writers:>7}  {plain:>10.0f}  {audited:>12.0f}  {audited / plain:>5.0%}"
                f"  {percentile(lags, 0.5) * 1000:>10.1f}  {percentile(lags, 0.95) * 1000:>10.1f}"
            )
        shared, lags = run(users, args.seconds, [300] * 16)
        print(
            f"       16 writers, one shared chain: {shared:.0f} audited tx/s, lag p50 "
            f"{percentile(lags, 0.5) * 1000:.1f} ms, p95 {percentile(lags, 0.95) * 1000:.1f} ms"
        )
        waiting = AuditEvent.objects.filter(position__isnull=True).count()
        print(f"events left unsequenced after the runs: {waiting}")
    finally:
        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
