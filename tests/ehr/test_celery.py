"""A task goes through the real broker to a real worker process and back."""

from __future__ import annotations

import subprocess

import pytest

from ehr.celery import ping


@pytest.mark.worker
def test_task_round_trip_through_the_configured_broker(celery_worker_process: subprocess.Popen[bytes]) -> None:
    result = ping.delay("hello")
    assert result.get(timeout=60) == "pong:hello"
