"""Syncing the mirror with the ID.me sandbox over real HTTP (live_server).

Arrange at ID.me (the sandbox's own rows, as if the clinician used Sign In & Security), then
act through the EHR's public surface: the return from ID.me, Refresh devices, eRx Info, the
sync service.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import time
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent, Outcome
from idme_client import IdmeUnavailable
from mfa import services
from mfa.models import DeviceSyncState, ProviderDevice
from tests.mfa.conftest import ERX_INFO, UNREACHABLE_IDME, LiveClinician, make_stale, page

pytestmark = pytest.mark.django_db(transaction=True)


def names(provider: Any) -> list[str]:
    return [d.label for d in services.devices_for(provider)]


def messages_of(html: str) -> list[str]:
    return re.findall(r'<p class="message[^"]*">([^<]+)</p>', html)


@pytest.mark.req("NIST-06")
def test_return_from_idme_lists_the_new_device_and_names_it(live_clinician: LiveClinician) -> None:
    live_clinician.add_code_generator("MyiPhone")

    response = live_clinician.client.get("/mfa/devices/returned/")

    assert response.status_code == 302
    assert response["Location"] == ERX_INFO
    html = page(live_clinician.client)
    assert "Added: MyiPhone." in messages_of(html)
    assert re.search(r"<td>MyiPhone <span", html)
    assert "Generate 2FA Key" in html
    device = ProviderDevice.objects.get(provider=live_clinician.provider)
    assert (device.name, device.kind, device.is_primary) == ("MyiPhone", "totp", False)
    # NIST-06: the binding is recorded, with its time, for this provider and device.
    event = AuditEvent.objects.get(action="mfa.device_added")
    assert event.details["idme_device_id"] == device.idme_device_id
    assert event.details["name"] == "MyiPhone"
    assert event.details["provider_id"] == live_clinician.provider.pk
    assert event.occurred_at is not None and event.actor_id == live_clinician.user.pk


def test_sync_upserts_renames_and_reports_push_devices(live_clinician: LiveClinician) -> None:
    generator = live_clinician.add_code_generator("android")
    live_clinician.add_push_device("I Phone Xs Max")
    first = services.sync_devices(live_clinician.provider)
    assert sorted(first.added) == ["I Phone Xs Max", "android"]
    generator.name = "test for generator"
    generator.save()

    second = services.sync_devices(live_clinician.provider)

    assert second.added == () and second.removed == ()
    assert second.renamed == (("android", "test for generator"),)
    assert second.summary() == "Renamed: android to test for generator."
    kinds = {d.label: d.get_kind_display() for d in services.devices_for(live_clinician.provider)}
    assert kinds == {"test for generator": "Generate 2FA Key", "I Phone Xs Max": "Push Notification 2FA"}
    assert AuditEvent.objects.filter(action="mfa.device_renamed").count() == 1
    # A sync with no changes changes nothing and says so.
    third = services.sync_devices(live_clinician.provider)
    assert not third.changed and third.summary() == "Your devices are up to date with ID.me."
    assert ProviderDevice.objects.filter(provider=live_clinician.provider).count() == 2


@pytest.mark.req("NIST-05")
def test_device_deleted_at_idme_disappears_and_a_removed_primary_is_cleared_with_a_notice(
    live_clinician: LiveClinician,
) -> None:
    old = live_clinician.add_code_generator("android")
    live_clinician.add_code_generator("MyiPhone")
    services.sync_devices(live_clinician.provider)
    old_mirror = ProviderDevice.objects.get(name="android")
    services.select_primary_device(live_clinician.provider, old_mirror.pk)
    assert services.primary_device(live_clinician.provider) == old_mirror
    old.delete()  # the trash can at ID.me

    live_clinician.client.get("/mfa/devices/returned/")
    html = page(live_clinician.client)

    assert names(live_clinician.provider) == ["MyiPhone"]
    assert services.primary_device(live_clinician.provider) is None
    shown = messages_of(html)
    assert "Removed: android." in shown
    assert "Your primary device was removed at ID.me; select a new one." in shown
    assert "android" not in html.split('id="devices-heading"')[1].split("</table>")[0]
    removal = AuditEvent.objects.get(action="mfa.device_removed")
    assert removal.details["idme_device_id"] == old_mirror.idme_device_id and removal.details["was_primary"] is True
    assert AuditEvent.objects.filter(action="mfa.primary_device_cleared").count() == 1
    # The notice is shown once.
    assert "Your primary device was removed" not in page(live_clinician.client)


@pytest.mark.req("NIST-05")
def test_background_removal_leaves_the_notice_for_the_next_page(live_clinician: LiveClinician) -> None:
    device = live_clinician.add_push_device("I Phone 6s Plus")
    services.sync_devices(live_clinician.provider)
    mirror = ProviderDevice.objects.get(provider=live_clinician.provider)
    services.select_primary_device(live_clinician.provider, mirror.pk)
    device.delete()

    result = services.sync_devices(live_clinician.provider)  # as the Celery task does: no request

    assert result.primary_removed
    html = page(live_clinician.client)
    assert "Your primary device was removed at ID.me; select a new one." in messages_of(html)
    assert "You have no multi-factor devices at ID.me yet." in html


def test_refresh_devices_button_syncs(live_clinician: LiveClinician) -> None:
    live_clinician.add_code_generator("OfficeiPad")

    response = live_clinician.client.post("/mfa/devices/refresh/", follow=True)

    assert "Added: OfficeiPad." in messages_of(response.content.decode())
    assert names(live_clinician.provider) == ["OfficeiPad"]
    state = DeviceSyncState.objects.get(provider=live_clinician.provider)
    assert state.last_synced_at is not None and state.last_error == ""


def test_unreachable_idme_keeps_the_mirror_with_the_last_sync_time_and_a_warning(
    live_clinician: LiveClinician, settings: Any
) -> None:
    live_clinician.add_code_generator("MyiPhone")
    services.sync_devices(live_clinician.provider)
    settings.IDME_BASE_URL = UNREACHABLE_IDME

    response = live_clinician.client.post("/mfa/devices/refresh/", follow=True)

    html = response.content.decode()
    assert response.status_code == 200
    assert any("ID.me could not be reached" in m for m in messages_of(html))
    assert re.search(r"<td>MyiPhone <span", html)
    assert "The devices below are as of the last sync on" in html
    assert "Last synced with ID.me:" in html
    assert names(live_clinician.provider) == ["MyiPhone"]
    failure = AuditEvent.objects.get(action="mfa.devices_sync_failed")
    assert failure.outcome == Outcome.ERROR
    # Another failed attempt while ID.me is still down does not flood the trail.
    with pytest.raises(IdmeUnavailable):
        services.sync_devices(live_clinician.provider)
    assert AuditEvent.objects.filter(action="mfa.devices_sync_failed").count() == 1


def test_unreachable_idme_on_return_still_lands_on_erx_info(live_clinician: LiveClinician, settings: Any) -> None:
    settings.IDME_BASE_URL = UNREACHABLE_IDME
    response = live_clinician.client.get("/mfa/devices/returned/", follow=True)
    assert response.status_code == 200
    assert any("ID.me could not be reached" in m for m in messages_of(response.content.decode()))


@pytest.fixture
def worker_for_sandbox(live_clinician: LiveClinician, monkeypatch: pytest.MonkeyPatch, request: Any) -> Any:
    """A real Celery worker process whose ID.me is the sandbox on the live server."""
    monkeypatch.setenv("IDME_BASE_URL", live_clinician.handle.base_url)
    worker: subprocess.Popen[bytes] = request.getfixturevalue("celery_worker_process")
    return worker


@pytest.mark.worker
def test_stale_mirror_is_synced_in_the_background_without_blocking_erx_info(
    live_clinician: LiveClinician, worker_for_sandbox: Any, settings: Any
) -> None:
    services.sync_devices(live_clinician.provider)  # the mirror was synced (empty) a while ago
    DeviceSyncState.objects.filter(provider=live_clinician.provider).update(
        last_synced_at=timezone.now() - services.STALE_AFTER - dt.timedelta(seconds=1)
    )
    live_clinician.add_code_generator("MyiPad")

    html = page(live_clinician.client)  # stale: the page answers from the mirror at once

    assert "Checking ID.me for changes" in html
    assert "You have no multi-factor devices at ID.me yet." in html
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not ProviderDevice.objects.filter(provider=live_clinician.provider).exists():
        time.sleep(0.2)
    assert names(live_clinician.provider) == ["MyiPad"]
    html = page(live_clinician.client)
    assert re.search(r"<td>MyiPad <span", html)
    # A background binding is announced to the clinician (NIST-06).
    assert any(m.startswith("A new device was added at ID.me: MyiPad.") for m in messages_of(html))
    assert "Checking ID.me for changes" not in html


def test_client_without_recent_sign_in_still_gets_the_return_sync(live_clinician: LiveClinician) -> None:
    # Returning from ID.me only mirrors ID.me; it changes no EHR setting, so no password prompt.
    make_stale(live_clinician.client)
    live_clinician.add_code_generator("MyiPhone")
    response = live_clinician.client.get("/mfa/devices/returned/")
    assert response["Location"] == ERX_INFO
    assert names(live_clinician.provider) == ["MyiPhone"]


def test_anonymous_return_is_sent_to_sign_in(live_clinician: LiveClinician) -> None:
    response = Client().get("/mfa/devices/returned/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not ProviderDevice.objects.exists()


def test_api_refresh_reports_what_changed(live_clinician: LiveClinician) -> None:
    live_clinician.add_code_generator("MyiPhone")
    response = live_clinician.client.post("/api/v1/mfa/devices/refresh/", content_type="application/json")
    assert response.status_code == 200
    body = response.json()
    assert body["added"] == ["MyiPhone"] and body["summary"] == "Added: MyiPhone."
    assert [d["name"] for d in body["devices"]] == ["MyiPhone"]


def test_account_unlinked_at_idme_is_explained_and_keeps_the_mirror(live_clinician: LiveClinician) -> None:
    from idme_sandbox.models import Consent

    live_clinician.add_code_generator("MyiPhone")
    services.sync_devices(live_clinician.provider)
    Consent.objects.filter(account=live_clinician.account).delete()  # the link removed at ID.me

    response = live_clinician.client.post("/mfa/devices/refresh/", follow=True)
    api = live_clinician.client.post("/api/v1/mfa/devices/refresh/", content_type="application/json")

    html = response.content.decode()
    sentence = "ID.me no longer lists your account as linked to this EHR; verify your identity with ID.me again."
    assert any(m.startswith(sentence) for m in messages_of(html))
    assert f'<p class="warning">{sentence} (last tried' in html
    assert re.search(r"<td>MyiPhone <span", html)
    assert api.status_code == 409 and api["Content-Type"] == "application/problem+json"
    assert api.json() == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": sentence,
        "code": "not_linked",
    }


def test_first_sync_mirrors_existing_devices_without_announcing_them_as_new(live_clinician: LiveClinician) -> None:
    live_clinician.add_code_generator("Office iPhone")
    result = services.sync_devices(live_clinician.provider)  # background (no request), first time
    assert result.added == ("Office iPhone",) and result.notices == ()
    assert AuditEvent.objects.get(action="mfa.device_added").details["first_sync"] is True
    assert "A new device was added" not in page(live_clinician.client)


def test_choosing_a_device_while_a_sync_removes_it_ends_consistent(live_clinician: LiveClinician) -> None:
    from tests.mfa.test_primary_concurrency import run_together

    doomed = live_clinician.add_code_generator("android")
    live_clinician.add_code_generator("MyiPhone")
    services.sync_devices(live_clinician.provider)
    mirror = ProviderDevice.objects.get(provider=live_clinician.provider, name="android")
    doomed.delete()

    results = run_together(
        [
            lambda: services.sync_devices(live_clinician.provider).removed,
            lambda: services.select_primary_device(live_clinician.provider, mirror.pk).pk,
        ]
    )

    assert results[0] == ("android",)
    # Either the choice came first (then the sync cleared it) or the device was already gone.
    assert results[1] == mirror.pk or isinstance(results[1], ProviderDevice.DoesNotExist)
    assert names(live_clinician.provider) == ["MyiPhone"]
    assert services.primary_device(live_clinician.provider) is None
