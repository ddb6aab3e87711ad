"""Two tabs choosing different primary devices at once: exactly one primary, no error page."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client

from mfa.models import ProviderDevice
from providers.models import Provider, User
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)
MakeDevice = Callable[..., ProviderDevice]


def run_together(actions: list[Callable[[], object]]) -> list[object]:
    """Start every action at the same moment, each on its own thread and DB connection."""
    barrier = threading.Barrier(len(actions))
    results: list[object] = [None] * len(actions)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = actions[index]()
        except BaseException as exc:  # reported to the test, not swallowed
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_tabs_choosing_different_devices_end_with_exactly_one_primary(
    clinician: User, provider: Provider, make_mirror_device: MakeDevice
) -> None:
    devices = [make_mirror_device(provider, f"device {n}") for n in range(4)]
    tabs = []
    for _ in devices:
        tab = Client()
        assert tab.login(username=clinician.username, password=TEST_PASSWORD)
        tabs.append(tab)

    def choose(tab: Client, device: ProviderDevice) -> Callable[[], object]:
        return lambda: tab.post("/mfa/devices/primary/", {"device_id": device.pk}).status_code

    for _round in range(3):
        results = run_together([choose(tab, device) for tab, device in zip(tabs, devices, strict=True)])
        assert results == [302] * len(devices), results  # every tab lands back on eRx Info
        primaries = list(ProviderDevice.objects.filter(provider=provider, is_primary=True))
        assert len(primaries) == 1
        assert primaries[0] in devices


def test_database_refuses_a_second_primary(provider: Provider, make_mirror_device: MakeDevice) -> None:
    make_mirror_device(provider, "android", primary=True)
    other = make_mirror_device(provider, "MyiPhone")
    with pytest.raises(IntegrityError), transaction.atomic():
        ProviderDevice.objects.filter(pk=other.pk).update(is_primary=True)
    assert ProviderDevice.objects.filter(provider=provider, is_primary=True).count() == 1


def test_many_concurrent_service_choices_leave_exactly_one_primary(
    provider: Provider, make_mirror_device: MakeDevice
) -> None:
    from mfa import services

    devices = [make_mirror_device(provider, f"device {n}") for n in range(6)]
    results = run_together(
        [lambda d=d: services.select_primary_device(provider, d.pk).pk for d in devices]  # type: ignore[misc]
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert ProviderDevice.objects.filter(provider=provider, is_primary=True).count() == 1
