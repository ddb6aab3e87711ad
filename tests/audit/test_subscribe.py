"""audit.subscribe: a higher app hears of events once they are committed, without audit
importing it (webhooks uses this; docs/audit.md "Subscribers")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import transaction

import audit
from audit.models import AuditEvent


@pytest.fixture
def heard() -> Iterator[list[list[AuditEvent]]]:
    calls: list[list[AuditEvent]] = []

    def listener(events: list[AuditEvent]) -> None:
        calls.append(events)

    audit.subscribe(listener)
    audit.subscribe(listener)  # idempotent
    yield calls
    audit.unsubscribe(listener)


def test_subscribers_hear_of_committed_events_once_per_recording(
    db: None, heard: list[list[AuditEvent]], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            one = audit.record("test.one", target=("test.thing", 1), chain=7)
            assert heard == []  # not before commit
        many = audit.record_many([("test.two", {"chain": None}), ("test.three", {"chain": 7})])
    assert [[e.pk for e in call] for call in heard] == [[one.pk], [e.pk for e in many]]
    assert [e.chain_id for e in heard[1]] == [None, 7]


def test_subscribers_hear_nothing_of_a_rolled_back_transaction(
    db: None, heard: list[list[AuditEvent]], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        audit.record("test.undone", chain=7)
        raise RuntimeError("the business transaction fails")
    assert heard == []
    assert not AuditEvent.objects.filter(action="test.undone").exists()


def test_a_failing_subscriber_neither_fails_the_recording_nor_silences_the_next(
    db: None, heard: list[list[AuditEvent]], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    def broken(events: list[AuditEvent]) -> None:
        raise ValueError("subscriber bug")

    after_broken: list[list[AuditEvent]] = []
    audit.subscribe(broken)
    audit.subscribe(after_broken.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            event = audit.record("test.recorded", chain=7)
    finally:
        audit.unsubscribe(broken)
        audit.unsubscribe(after_broken.append)
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert [[e.pk for e in call] for call in heard] == [[event.pk]]
    assert [[e.pk for e in call] for call in after_broken] == [[event.pk]]
