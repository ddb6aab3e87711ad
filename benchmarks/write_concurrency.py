"""Audited writes across chains (practices) on PostgreSQL: no global lock, throughput, lag.

Usage:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ehr_bench \\
        .venv/bin/python benchmarks/write_concurrency.py [--seconds 4]

Runs in-process against a throw-away test database (created and destroyed here). Each writer
is a process (as a gunicorn worker) with its own connection and its own user row; one write
transaction updates that row and, when audited, records one event through
`audit.record(..., chain=...)`. Who gives the event its place (`--sequencer`):
`process` (default): one dedicated sequencer process (`manage.py sequence_audit --follow`,
AUDIT_SEQUENCER_FOLLOWS), running through the plain and the audited runs alike, writers
register no after-commit hook; `thread`: after commit, each writer process's sequencer thread;
`inline`: the writer itself, before it goes on.
Plain and audited transactions are the same code but for the `audit.record` line (both
register the same after-commit hook that notes the commit time).
Prints:

1. a transaction of chain 1 held open for 2 s: how long an audited write in chain 2 takes;
2. transactions per second with 1, 4 and 16 writers, each in its own chain, with and without
   the audit event, in the same run: --rounds pairs of runs (plain and audited, alternating
   which goes first), their mean rates, the ratio of the means and each pair's ratio (target
   >= 60 % at 16);
3. sequencing lag (commit -> chain position committed, sampled every 5th transaction)
   p50/p95 at each rate, plus 16 writers sharing one chain (target p95 <= 1 s at the
   highest rate).

Figures only: nothing is asserted (docs/performance.md records them).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("EHR_VAR_DIR", tempfile.mkdtemp(prefix="ehr-bench-writes-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ehr.settings")
os.environ.setdefault("EHR_TESTING", "1")
# As deployed: a thread of the process sequences after commit (the test run sequences inline).
os.environ.setdefault("AUDIT_SEQUENCE_IN_BACKGROUND", "1")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402

import audit  # noqa: E402
from audit import sequencer  # noqa: E402
from audit.models import AuditEvent  # noqa: E402
from providers.models import User  # noqa: E402


def percentile(samples: list[float], fraction: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


LAG_SAMPLE_EVERY = 5
LAG_POLL_SECONDS = 0.05
RING = 8192  # samples each writer can hold before the observer reads them (it reads every 20 ms)
FORK = multiprocessing.get_context("fork")


class Samples:
    """A writer's sampled events (event id, commit time) in shared memory, written without
    locks or messages: the probe must cost the audited run next to nothing (a queue message
    for every 5th event cost it about a tenth of its throughput). The writer fills a slot,
    then advances `written`; the observer reads the slots below `written`."""

    def __init__(self) -> None:
        self.slots = FORK.Array("d", 2 * RING, lock=False)
        self.written = FORK.Value("q", 0, lock=False)
        self.read = 0

    def put(self, event_id: int, at: float) -> None:
        slot = self.written.value % RING
        self.slots[2 * slot], self.slots[2 * slot + 1] = event_id, at
        self.written.value += 1

    def take(self) -> list[tuple[int, float]]:
        written = self.written.value
        taken = [(int(self.slots[2 * (i % RING)]), self.slots[2 * (i % RING) + 1]) for i in range(self.read, written)]
        self.read = written
        return taken


class LagObserver:
    """Every LAG_SAMPLE_EVERY-th audited event: its commit time (wall clock) comes from the
    writer process through shared memory (`Samples`); a thread polls every 50 ms for the
    sampled events that have a committed position (lag resolution 50 ms: a lag is measured up
    to 50 ms long; 20 queries a second next to the writers' thousands). Lag = seen - commit."""

    def __init__(self, samples: list[Samples]) -> None:
        self.samples = samples
        self.waiting: dict[int, float] = {}
        self.lags: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self) -> None:
        try:
            while True:
                stopping = self.stop.is_set()  # read before the last take: nothing is missed
                for writer in self.samples:
                    self.waiting.update(writer.take())
                if self.waiting:
                    with connection.cursor() as cursor:  # one small statement (the ORM's cost more)
                        cursor.execute(
                            "SELECT id FROM audit_auditevent WHERE id = ANY(%s) AND position IS NOT NULL",
                            [list(self.waiting)],
                        )
                        now = time.time()
                        for (pk,) in cursor.fetchall():
                            self.lags.append(now - self.waiting.pop(pk))
                if stopping and not self.waiting:
                    return
                time.sleep(LAG_POLL_SECONDS)
        finally:
            connections.close_all()

    def finish(self) -> list[float]:
        self.stop.set()
        self.thread.join(timeout=120)
        return self.lags


def write(user_id: int, n: int, chain: int | None, samples: Samples | None = None) -> None:
    """One business transaction: update the writer's row; audited: one event in `chain`."""
    committed: list[float] = []
    with transaction.atomic():
        User.objects.filter(pk=user_id).update(first_name=f"w{n % 1000}")
        # Registered before audit.record's own hook (if any), so it runs first: the commit time.
        transaction.on_commit(lambda: committed.append(time.time()))
        if chain is not None:
            event = audit.record("bench.write", chain=chain, target=("providers.user", user_id), details={"n": n})
    if chain is not None and samples is not None and committed and n % LAG_SAMPLE_EVERY == 0:
        samples.put(event.pk, committed[0])


def writer_process(
    user_id: int, chain: int | None, seconds: float, go: Any, samples: Samples | None, counts: Any
) -> None:
    """A worker process (as gunicorn's): its own connection and its own sequencer thread."""
    go.wait()
    n, end = 0, time.time() + seconds
    while time.time() < end:
        write(user_id, n, chain, samples)
        n += 1
    sequencer.background.wait_idle(60)
    connections.close_all()
    counts.put(n)


def sequencer_process(stop: Any) -> None:
    """The dedicated sequencer (what `manage.py sequence_audit --follow` runs), until `stop`."""
    sequencer.follow(stop=stop)


def run(users: list[int], seconds: float, chains: list[int] | None) -> tuple[float, list[float]]:
    """One writer process per user for `seconds`; chains None: no audit. Returns (tx/s, lags)."""
    connections.close_all()  # nothing shared with the children
    go, counts = FORK.Event(), FORK.Queue()
    samples = [Samples() for _ in users] if chains else []
    processes = [
        FORK.Process(
            target=writer_process,
            args=(user, chains[i] if chains else None, seconds, go, samples[i] if chains else None, counts),
        )
        for i, user in enumerate(users)
    ]
    for process in processes:
        process.start()
    observer = LagObserver(samples) if chains else None
    go.set()
    total = sum(counts.get(timeout=seconds + 120) for _ in processes)
    for process in processes:
        process.join()
    return total / seconds, observer.finish() if observer else []


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
    parser.add_argument(
        "--rounds", type=int, default=3, help="plain/audited pairs per writer count (means and each pair's ratio)"
    )
    parser.add_argument(
        "--sequencer",
        choices=("process", "thread", "inline"),
        default="process",
        help="who sequences: one dedicated process (default), a thread of each writer, or the writer itself",
    )
    args = parser.parse_args()
    # As deployed (and as Django's test runner does): no query log, which DEBUG keeps for
    # every statement and would charge the audited run, with more statements, more.
    settings.DEBUG = False
    settings.AUDIT_SEQUENCE_IN_BACKGROUND = args.sequencer == "thread"
    settings.AUDIT_SEQUENCER_FOLLOWS = args.sequencer == "process"
    if connection.vendor != "postgresql":
        sys.exit("Run on PostgreSQL: set DATABASE_URL=postgres://... (SQLite runs one writer at a time by design).")
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        users = [User.objects.create_user(f"bench.writer{i}").pk for i in range(16)]
        connections.close_all()
        for n in range(20):  # warm: imports, the signing key, the first checkpoint of each chain
            write(users[n % 16], n, 100 + n % 16, None)
        mode = {
            "process": "by one dedicated sequencer process",
            "thread": "by a thread of each writer process",
            "inline": "in the committing thread",
        }[args.sequencer]
        stop_sequencer = FORK.Event()
        dedicated = FORK.Process(target=sequencer_process, args=(stop_sequencer,))
        if args.sequencer == "process":
            connections.close_all()
            dedicated.start()
        print(f"database: postgresql; {args.seconds:g} s per run; sequenced {mode}")
        print(f"machine load average {os.getloadavg()[0]:.1f} (2 cores)")
        print(f"1. audited write in chain 2 while chain 1's transaction is open 2 s: {held_open(users):.3f} s")
        print("2./3.  writers  plain tx/s  audited tx/s  ratio   lag p50 ms  lag p95 ms")
        for writers in (1, 4, 16):
            plains: list[float] = []
            auditeds: list[float] = []
            lags: list[float] = []
            for round_ in range(args.rounds):
                # Alternate which goes first, so a load that rises or falls during the pair
                # (a shared machine) favours neither.
                for audited_run in (False, True) if round_ % 2 == 0 else (True, False):
                    chains = [200 + i for i in range(writers)] if audited_run else None
                    rate, round_lags = run(users[:writers], args.seconds, chains)
                    (auditeds if audited_run else plains).append(rate)
                    lags += round_lags
            plain, audited = sum(plains) / len(plains), sum(auditeds) / len(auditeds)
            ratios = sorted(a / p for a, p in zip(auditeds, plains, strict=True))
            print(
                f"       {writers:>7}  {plain:>10.0f}  {audited:>12.0f}  {audited / plain:>5.0%}"
                f"  {percentile(lags, 0.5) * 1000:>10.1f}  {percentile(lags, 0.95) * 1000:>10.1f}"
                f"   (pairs: {', '.join(f'{r:.0%}' for r in ratios)})"
            )
        shared, lags = run(users, args.seconds, [300] * 16)
        print(
            f"       16 writers, one shared chain: {shared:.0f} audited tx/s, lag p50 "
            f"{percentile(lags, 0.5) * 1000:.1f} ms, p95 {percentile(lags, 0.95) * 1000:.1f} ms"
        )
        sequencer.background.wait_idle(10)
        if args.sequencer == "process":
            time.sleep(1)
            stop_sequencer.set()
            dedicated.join(timeout=30)
        waiting = AuditEvent.objects.filter(position__isnull=True).count()
        print(f"events left unsequenced after the runs: {waiting}")
    finally:
        with connection.cursor() as cursor:  # the sequencer thread's idle connection
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
