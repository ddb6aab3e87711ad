"""One chain per practice, sequenced after commit without a global lock (DEA-13, ASVS-09)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction

import audit
from audit.models import AuditCheckpoint, AuditEvent
from audit.services import build_event, verify_chain
from audit.tasks import sequence_audit_trail
from audit.verify_export import GENESIS_HASH


def chain_rows(chain_id: int | None) -> list[tuple[Any, Any, Any]]:
    rows = (
        AuditEvent.objects.filter(chain_id=chain_id)
        if chain_id is not None
        else AuditEvent.objects.filter(chain_id__isnull=True)
    )
    return list(rows.order_by("position").values_list("position", "previous_hash", "hash"))


def assert_gap_and_fork_free(chain_id: int | None, expected: int) -> None:
    rows = chain_rows(chain_id)
    assert [position for position, _, _ in rows] == list(range(1, expected + 1))
    previous = GENESIS_HASH
    for _position, previous_hash, digest in rows:
        assert previous_hash == previous
        previous = digest
    check = verify_chain(chain_id)
    assert check.intact, check.findings
    assert check.events_checked == expected and check.waiting == 0


@pytest.mark.django_db
@pytest.mark.req("DEA-13")
def test_an_event_exists_at_once_and_gets_its_place_after_commit(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        event = audit.record("test.recorded", target=("thing", 1))
        # Inside the business transaction: readable at once, not yet in the chain.
        stored = AuditEvent.objects.get(pk=event.pk)
        assert (stored.action, stored.chain_id, stored.position, stored.hash) == ("test.recorded", None, None, None)
    stored.refresh_from_db()
    assert (stored.position, stored.previous_hash) == (1, GENESIS_HASH)
    assert stored.hash and len(stored.hash) == 64


@pytest.mark.django_db
@pytest.mark.req("DEA-13")
@pytest.mark.req("ASVS-09")
def test_each_chain_has_its_own_positions_and_hashes(django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    for n in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            audit.record("test.no_practice", details={"n": n})
            audit.record("test.practice", chain=7, details={"n": n})
            audit.record_many([("test.batch", {"chain": 8, "details": {"n": n, "i": i}}) for i in range(2)])
    assert_gap_and_fork_free(None, 3)
    assert_gap_and_fork_free(7, 3)
    assert_gap_and_fork_free(8, 6)
    # The chain id is part of what the hash covers: the same content in two chains differs.
    assert not set(h for _, _, h in chain_rows(7)) & set(h for _, _, h in chain_rows(None))


@pytest.mark.django_db
@pytest.mark.req("DEA-13")
def test_record_accepts_a_practice_object_or_its_id() -> None:
    class Practice:
        pk = 42

    assert audit.record("test.object", chain=Practice()).chain_id == 42
    assert audit.record("test.id", chain=42).chain_id == 42
    assert audit.record("test.none").chain_id is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.req("DEA-13")
def test_an_event_in_a_rolled_back_transaction_is_gone_and_leaves_no_gap() -> None:
    audit.record("test.kept", chain=3)

    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned), transaction.atomic():
        audit.record("test.rolled_back", chain=3)
        raise Abandoned
    with transaction.atomic():
        audit.record("test.kept_too", chain=3)
    assert not AuditEvent.objects.filter(action="test.rolled_back").exists()
    assert list(AuditEvent.objects.filter(chain_id=3).order_by("position").values_list("action", "position")) == [
        ("test.kept", 1),
        ("test.kept_too", 2),
    ]
    assert_gap_and_fork_free(3, 2)


@pytest.mark.django_db(transaction=True)
@pytest.mark.req("DEA-13")
@pytest.mark.req("DEA-17")
def test_events_committed_but_never_sequenced_are_sequenced_by_the_sweep() -> None:
    # The after-commit hook lost (a crash between commit and sequencing): insert as record()
    # does, without the hook.
    with transaction.atomic():
        audit.record("test.sequenced", chain=5)
    with transaction.atomic():
        AuditEvent.objects.bulk_create([build_event("test.crashed", chain=5), build_event("test.crashed")])
    assert AuditEvent.objects.filter(position__isnull=True).count() == 2
    assert verify_chain(5).waiting == 1
    assert sequence_audit_trail()["sequenced"] == 2  # what beat runs every AUDIT_SWEEP_SECONDS
    assert_gap_and_fork_free(5, 2)
    assert_gap_and_fork_free(None, 1)
    AuditEvent.objects.bulk_create([build_event("test.crashed_again", chain=5)])
    call_command("sequence_audit")
    assert_gap_and_fork_free(5, 3)


@pytest.mark.django_db(transaction=True)
@pytest.mark.req("DEA-17")
def test_the_sequencer_health_check_fails_while_an_event_waits_too_long() -> None:
    call_command("sequence_audit", check=5)  # nothing waits
    with transaction.atomic():  # committed without the after-commit hook: nobody sequences it
        AuditEvent.objects.bulk_create([build_event("test.waiting", chain=5)])
    call_command("sequence_audit", check=5)  # it has waited less than 5 s
    with pytest.raises(CommandError, match="has waited"):
        call_command("sequence_audit", check=0)
    call_command("sequence_audit")
    call_command("sequence_audit", check=0)  # sequenced: healthy again


@pytest.mark.django_db(transaction=True)
@pytest.mark.req("DEA-13")
@pytest.mark.req("ASVS-09")
def test_concurrent_appends_across_chains_never_fork_or_leave_gaps() -> None:
    # On SQLite the threads' transactions queue (IMMEDIATE); on PostgreSQL they overlap.
    writers, rounds, chains = 12, 15, (None, 1, 2, 3)
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    class Abandoned(Exception):
        pass

    def write(n: int) -> None:
        try:
            start.wait()
            for i in range(rounds):
                chain = chains[(n + i) % len(chains)]
                try:
                    with transaction.atomic():
                        audit.record("test.concurrent", chain=chain, details={"writer": n, "round": i})
                        if i % 5 == 4:
                            audit.record("test.abandoned", chain=chain)
                            raise Abandoned
                        audit.record_many([("test.pair", {"chain": chains[(n + i + 1) % len(chains)]})] * 2)
                except Abandoned:
                    pass
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert not AuditEvent.objects.filter(action="test.abandoned").exists()
    for chain in chains:
        assert_gap_and_fork_free(chain, AuditEvent.objects.filter(**chain_kw(chain)).count())
    assert AuditEvent.objects.count() == writers * rounds // 5 * 4 * 3


def chain_kw(chain: int | None) -> dict[str, Any]:
    return {"chain_id__isnull": True} if chain is None else {"chain_id": chain}


@pytest.mark.django_db(transaction=True)
@pytest.mark.req("DEA-13")
def test_a_transaction_held_open_in_one_chain_does_not_hold_up_another_chain() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time by design")
    holding, release = threading.Event(), threading.Event()
    done: list[str] = []

    def hold_chain_one() -> None:
        try:
            with transaction.atomic():
                audit.record("test.slow", chain=1)
                holding.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    def write_chain_two() -> None:
        try:
            with transaction.atomic():
                audit.record("test.quick", chain=2)
            done.append("committed")
        finally:
            connections.close_all()

    slow = threading.Thread(target=hold_chain_one)
    slow.start()
    assert holding.wait(timeout=10)
    quick = threading.Thread(target=write_chain_two)
    quick.start()
    quick.join(timeout=10)  # with a global lock it would wait for `release`, which comes later
    finished_while_held = not quick.is_alive()
    release.set()
    slow.join(timeout=30)
    quick.join(timeout=30)
    assert finished_while_held and done == ["committed"]
    assert_gap_and_fork_free(2, 1)
    assert_gap_and_fork_free(1, 1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.req("DEA-13")
def test_the_sequencer_signs_a_checkpoint_at_most_every_interval(settings: Any) -> None:
    settings.AUDIT_CHECKPOINT_INTERVAL_SECONDS = 3600
    audit.record("test.first", chain=4)  # the chain's first checkpoint comes at once
    audit.record("test.second", chain=4)  # within the interval: none
    assert list(AuditCheckpoint.objects.filter(chain_id=4).values_list("position", flat=True)) == [1]
    settings.AUDIT_CHECKPOINT_INTERVAL_SECONDS = 0
    audit.record("test.third", chain=4)
    assert list(AuditCheckpoint.objects.filter(chain_id=4).values_list("position", flat=True)) == [1, 3]
    check = verify_chain(4)
    assert check.intact and check.checkpoints_checked == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.req("DEA-13")
def test_as_deployed_a_thread_of_the_process_sequences_after_commit(settings: Any) -> None:
    from audit import sequencer

    settings.AUDIT_SEQUENCE_IN_BACKGROUND = True
    for n in range(5):
        with transaction.atomic():
            audit.record("test.background", chain=6, details={"n": n})
            audit.record("test.background")
    assert sequencer.background.wait_idle(timeout=30)
    assert_gap_and_fork_free(6, 5)
    assert_gap_and_fork_free(None, 5)


@pytest.mark.django_db(transaction=True)
@pytest.mark.req("DEA-13")
@pytest.mark.req("ASVS-09")
def test_the_dedicated_sequencer_seals_every_chain_and_writers_leave_it_to_it(settings: Any) -> None:
    from audit import sequencer

    settings.AUDIT_SEQUENCER_FOLLOWS = True
    chains = (None, 7, 8, 9)
    for n in range(12):
        with transaction.atomic():
            audit.record("test.followed", chain=chains[n % len(chains)], details={"n": n})
    # Writers registered nothing after commit: every event waits for the sequencer.
    assert AuditEvent.objects.filter(position__isnull=True).count() == 12
    stop = threading.Event()
    follower = threading.Thread(target=sequencer.follow, kwargs={"interval": 0.05, "stop": stop})
    follower.start()
    try:
        for n in range(12, 24):  # more arrive while it runs
            with transaction.atomic():
                audit.record("test.followed", chain=chains[n % len(chains)], details={"n": n})
        for _ in range(200):
            if not AuditEvent.objects.filter(position__isnull=True).exists():
                break
            time.sleep(0.05)
    finally:
        stop.set()
        follower.join(timeout=30)
    assert not follower.is_alive()
    for chain in chains:
        assert_gap_and_fork_free(chain, 6)
        assert AuditCheckpoint.objects.filter(chain_id=chain).exists()  # each chain's first checkpoint


@pytest.mark.django_db(transaction=True)
@pytest.mark.req("DEA-13")
def test_one_sequencing_round_seals_many_chains_after_their_existing_heads() -> None:
    for chain in (11, 12, 13):
        audit.record("test.first", chain=chain)  # sequenced at once (the test run's default)
    with transaction.atomic():  # then events the after-commit hook never saw, in four chains
        AuditEvent.objects.bulk_create(
            [build_event("test.later", chain=chain) for chain in (11, 12, 13, None, 12, 11, 11)]
        )
    assert sequence_audit_trail()["sequenced"] == 7
    assert_gap_and_fork_free(11, 4)
    assert_gap_and_fork_free(12, 3)
    assert_gap_and_fork_free(13, 2)
    assert_gap_and_fork_free(None, 1)
