"""An event travels with its transaction's next statement or COMMIT (PostgreSQL: one round
trip saved per audited transaction, ehr/db/postgresql) and behaves exactly as if it had been
written at once: visible to the transaction's next statement, its id readable, gone with a
rollback, and a refused event fails the whole transaction (DEA-13)."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable, Iterator

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import signals
from psycopg import pq

import audit
from audit.models import AuditEvent
from audit.services import append_events, build_event
from providers.models import User

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.req("DEA-13")]


class Boom(Exception):
    pass


@pytest.fixture
def user() -> User:
    return User.objects.create_user("audited.writer")


@pytest.fixture
def recording() -> Iterator[Callable[[], list[str]]]:
    """Records every simple-protocol message a new connection sends to the database, as libpq
    traces it on the wire (PostgreSQL only); calling it stops the recording and returns them."""
    connection.close()
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    with tempfile.TemporaryFile() as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

        def stop() -> list[str]:
            pgconn.untrace()  # flushes the trace
            trace.seek(0)
            lines = [line.split("\t", 3) for line in trace.read().decode().splitlines()]
            # Direction (F: frontend), length, message type, then the query in double quotes.
            return [text.strip()[1:-1] for direction, _, kind, text in lines if (direction, kind) == ("F", "Query")]

        yield stop
        pgconn.untrace()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no round trips to save: it writes at once")
def test_an_audited_transaction_sends_its_event_with_the_commit_prepared_once(
    user: User, recording: Callable[[], list[str]]
) -> None:
    events = []
    for name in ("Ada", "Grace"):
        with transaction.atomic():
            User.objects.filter(pk=user.pk).update(first_name=name)
            events.append(audit.record("test.with_commit", target=user, chain=5))
    sent = recording()
    with_events = [message for message in sent if "EXECUTE ehr_statement_" in message]
    # One message per transaction: the event and the COMMIT; the insert prepared only once.
    assert len(with_events) == 2 and all(message.endswith("; COMMIT") for message in with_events)
    assert with_events[0].startswith("PREPARE ehr_statement_") and 'INSERT INTO "audit_auditevent"' in with_events[0]
    assert with_events[1].startswith("EXECUTE ehr_statement_")
    assert not [message for message in sent if message.startswith('INSERT INTO "audit_auditevent"')]
    assert [AuditEvent.objects.get(pk=event.pk).action for event in events] == ["test.with_commit"] * 2
    assert User.objects.get(pk=user.pk).first_name == "Grace"


def test_the_next_statement_of_the_transaction_sees_the_event(user: User) -> None:
    with transaction.atomic():
        audit.record("test.seen", target=user)
        assert AuditEvent.objects.filter(action="test.seen", target_id=str(user.pk)).count() == 1
    assert AuditEvent.objects.filter(action="test.seen").count() == 1


def test_the_id_is_readable_at_once_and_is_the_stored_row(user: User) -> None:
    with transaction.atomic():
        event = audit.record("test.id", target=user)
        pk = event.pk
        assert isinstance(pk, int)
        assert AuditEvent.objects.get(pk=pk).action == "test.id"
    assert event.pk == pk


def test_a_rolled_back_transaction_leaves_no_event_and_sends_none_later(user: User) -> None:
    with pytest.raises(Boom), transaction.atomic():
        User.objects.filter(pk=user.pk).update(first_name="Never")
        audit.record("test.rolled_back", target=user)
        raise Boom
    with transaction.atomic():
        audit.record("test.after", target=user)
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["test.after"]
    assert User.objects.get(pk=user.pk).first_name != "Never"


def test_an_event_that_opens_its_transaction_is_rolled_back_with_it(user: User) -> None:
    # Its message begins the transaction (nothing else was sent in it yet): no autocommit.
    with pytest.raises(Boom), transaction.atomic():
        event = audit.record("test.opens", target=user)
        assert AuditEvent.objects.filter(pk=event.pk).exists()
        raise Boom
    assert not AuditEvent.objects.filter(action="test.opens").exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no round trips to save: it writes at once")
def test_an_event_alone_in_its_transaction_is_one_message(user: User, recording: Callable[[], list[str]]) -> None:
    with transaction.atomic():
        event = audit.record("test.alone", target=user, chain=5)
    transaction_message = recording()[0]  # what follows is the sequencer's, after commit
    assert transaction_message.startswith("BEGIN; PREPARE ehr_statement_") and transaction_message.endswith("; COMMIT")
    assert AuditEvent.objects.get(pk=event.pk).action == "test.alone"


def test_a_savepoint_rolled_back_takes_its_events_and_keeps_the_earlier_ones(user: User) -> None:
    with transaction.atomic():
        audit.record("test.kept", target=user)
        with pytest.raises(Boom), transaction.atomic():
            audit.record("test.undone", target=user)
            raise Boom
        audit.record("test.kept_too", target=user)
    assert sorted(AuditEvent.objects.values_list("action", flat=True)) == ["test.kept", "test.kept_too"]


def test_an_event_the_database_refuses_fails_the_whole_transaction(user: User) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite writes each event at once, so record() itself raises")
    # jsonb refuses \u0000: the refusal comes with the COMMIT the event travels with.
    with pytest.raises(DatabaseError), transaction.atomic():
        User.objects.filter(pk=user.pk).update(first_name="Lost")
        audit.record("test.refused", target=user, details={"nul": "\x00"})
    assert not AuditEvent.objects.filter(action="test.refused").exists()
    assert User.objects.get(pk=user.pk).first_name != "Lost"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite writes every event at once anyway")
def test_at_once_writes_before_returning_for_callers_that_must_refuse_when_the_trail_does(
    user: User, recording: Callable[[], list[str]]
) -> None:
    # DEA-16: signing writes its events at once, so a refusing trail refuses the signing there.
    with transaction.atomic():
        audit.record("test.at_once", target=user, at_once=True)
        written_before_returning = [message for message in recording() if "audit_auditevent" in message]
    assert written_before_returning and written_before_returning[0].startswith('INSERT INTO "audit_auditevent"')
    assert AuditEvent.objects.filter(action="test.at_once").count() == 1


def test_a_sent_event_keeps_nothing_of_the_connection_and_pickles(user: User) -> None:
    import pickle

    with transaction.atomic():
        event = audit.record("test.pickled", target=user)
    assert pickle.loads(pickle.dumps(event)).pk == event.pk


def test_reading_the_id_of_a_rolled_back_event_sends_nothing(user: User) -> None:
    with pytest.raises(Boom), transaction.atomic():
        event = audit.record("test.rolled_back_id", target=user)
        raise Boom
    event.pk  # noqa: B018 - the read itself is the test: nothing is left to send, nothing fails
    assert not AuditEvent.objects.filter(action="test.rolled_back_id").exists()


def test_the_event_returned_is_the_row_stored_details_as_json_keeps_them(user: User) -> None:
    with transaction.atomic():
        event = audit.record("test.details", target=user, details={"on": dt.date(2026, 1, 2), "ids": (1, 2)})
    stored = AuditEvent.objects.get(pk=event.pk)
    assert event.details == stored.details == {"on": "2026-01-02", "ids": [1, 2]}
    assert (event.occurred_at, event.target_id, event.actor_id) == (stored.occurred_at, str(user.pk), None)
    assert not event._state.adding and stored._state.db == event._state.db


def test_details_replaced_after_the_event_is_built_are_the_details_stored(user: User) -> None:
    event = build_event("test.replaced", target=user, details={"first": 1})
    event.details = {"second": 2}
    with transaction.atomic():
        append_events([event])
    assert AuditEvent.objects.get(pk=event.pk).details == {"second": 2}


def test_nothing_listens_to_an_event_being_made_which_build_event_skips() -> None:
    # AuditEvent.unsaved makes events without Model.__init__ and its init signals.
    assert not signals.pre_init.has_listeners(AuditEvent)
    assert not signals.post_init.has_listeners(AuditEvent)
