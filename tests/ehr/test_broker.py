"""The embedded default's broker (ehr/broker.py): a reader never sees half a message.

kombu's own filesystem transport creates the message file before writing into it; a worker
polling in between took the empty file, failed to decode it and stopped (the message was
lost). The writer here is another process, as the web server is for the worker."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest
from django.conf import settings
from kombu import Connection

TRANSPORT = "ehr.broker:Transport"
WRITERS = 2
MESSAGES_EACH = 60
# A large body widens the moment between creating a file and finishing it.
PADDING = ["x" * 100] * 20_000


def _connection(folder: str) -> Connection:
    return Connection(
        transport=TRANSPORT,
        transport_options={"data_folder_in": folder, "data_folder_out": folder, "store_processed": False},
    )


def _write(folder: str, writer: int) -> None:
    with _connection(folder) as connection:
        queue = connection.SimpleQueue("race")
        for number in range(MESSAGES_EACH):
            queue.put({"writer": writer, "number": number, "padding": PADDING})


def test_the_embedded_default_uses_the_atomic_transport() -> None:
    if not getattr(settings, "REDIS_URL", None):
        assert settings.CELERY_BROKER_TRANSPORT == TRANSPORT


@pytest.mark.req("DEA-15")  # a lost message was a transmission that never happened
def test_a_reader_polling_while_others_write_receives_every_message_whole(tmp_path: Path) -> None:
    folder = str(tmp_path)
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_write, args=(folder, writer)) for writer in range(WRITERS)]
    for process in writers:
        process.start()
    received: set[tuple[int, int]] = set()
    undecodable = 0
    deadline = time.monotonic() + 120
    with _connection(folder) as connection:
        queue = connection.SimpleQueue("race")
        while time.monotonic() < deadline:
            try:
                message = queue.get(block=False)
            except json.JSONDecodeError:
                undecodable += 1
                continue
            except queue.Empty:
                if all(not process.is_alive() for process in writers) and queue.qsize() == 0:
                    break
                continue
            received.add((message.payload["writer"], message.payload["number"]))
            assert message.payload["padding"] == PADDING
            message.ack()
    for process in writers:
        process.join(timeout=30)
    assert undecodable == 0
    assert received == {(writer, number) for writer in range(WRITERS) for number in range(MESSAGES_EACH)}
