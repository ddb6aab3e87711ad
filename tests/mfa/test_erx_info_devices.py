"""eRx Info's ID.Me Device Information section and the primary device choice, as a clinician.

These tests read the mirror only (no ID.me needed): the mirror rows are arranged as a past
sync left them. Syncing itself is in test_sync_live.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from mfa.models import DeviceSyncState, ProviderDevice
from providers import erx_cache
from providers.models import Provider, User
from tests.conftest import TEST_PASSWORD
from tests.mfa.conftest import ERX_INFO, make_stale, page

SELECT = "/mfa/devices/primary/"

MakeDevice = Callable[..., ProviderDevice]


def fresh_sync(provider: Provider) -> DeviceSyncState:
    state, _ = DeviceSyncState.objects.update_or_create(
        provider=provider, defaults={"last_synced_at": timezone.now(), "last_attempt_at": timezone.now()}
    )
    return state


def device_section(html: str) -> str:
    return html.split('<section aria-labelledby="devices-heading"')[1].split("</section>")[0]


def rows(html: str) -> list[list[str]]:
    body = device_section(html).split("<tbody>")[1].split("</tbody>")[0]
    result = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S):
        cells = re.findall(r"<td>(.*?)</td>", row, flags=re.S)
        result.append([re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)).strip() for c in cells])
    return result


def test_section_reads_like_the_seed(
    clinician_client: Client, provider: Provider, make_mirror_device: MakeDevice
) -> None:
    generator = make_mirror_device(provider, "test for generator", "totp")
    make_mirror_device(provider, "I Phone Xs Max", "push", primary=True)
    fresh_sync(provider)

    html = device_section(page(clinician_client))

    assert '<h3 id="devices-heading">ID.Me Device Information</h3>' in html
    assert ">What happens to my MFA when I change my phone?</a>" in html
    assert ">Update MFA Device</a>" in html
    assert re.findall(r'<th scope="col">([^<]+)</th>', html) == ["Name", "Option", "Primary Device"]
    table = rows(page(clinician_client))
    assert [r[1:] for r in table] == [
        ["Generate 2FA Key", "Select as the primary device (test for generator)"],
        ["Push Notification 2FA", "Is Primary"],
    ]
    assert table[0][0].startswith("test for generator Added ")
    # The visible text is the seed's; the accessible name adds the device's name.
    assert (
        f'<button type="submit" name="device_id" value="{generator.pk}" class="button">'
        'Select as the primary device<span class="visually-hidden"> (test for generator)</span></button>'
    ) in html
    assert 'action="/mfa/devices/primary/"' in html
    assert "Refresh devices" in html


def test_update_mfa_device_goes_to_sign_in_and_security_with_the_return_address(
    clinician_client: Client, provider: Provider, settings: object
) -> None:
    html = device_section(page(clinician_client))
    href = re.search(r'<a href="([^"]+)">Update MFA Device</a>', html)
    assert href is not None
    url = urlsplit(href.group(1).replace("&amp;", "&"))
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{settings.IDME_BASE_URL}/account/security/"  # type: ignore[attr-defined]
    query = parse_qs(url.query)
    assert query["client_id"] == [settings.IDME_CLIENT_ID]  # type: ignore[attr-defined]
    assert query["return_to"] == ["http://testserver/mfa/devices/returned/"]


def test_no_devices_gives_guidance_and_a_link_to_set_one_up(clinician_client: Client, provider: Provider) -> None:
    fresh_sync(provider)
    html = device_section(page(clinician_client))
    assert "You have no multi-factor devices at ID.me yet." in html
    assert ">Set up a device at ID.me</a>" in html
    assert "<table" not in html


def test_unlinked_provider_is_told_there_is_nothing_to_sync(clinician_client: Client, clinician: User) -> None:
    html = device_section(page(clinician_client))
    assert "not linked to an ID.me account yet, so there are no devices to show or sync" in html
    assert "Refresh devices" not in html
    response = clinician_client.post("/mfa/devices/refresh/", follow=True)
    assert "not linked to ID.me yet, so there are no devices to sync" in response.content.decode()
    assert not DeviceSyncState.objects.exists()


@pytest.mark.req("DEA-02")
def test_unconfirmed_identity_sees_why_devices_cannot_sign_yet(
    clinician_client: Client, provider: Provider, make_mirror_device: MakeDevice
) -> None:
    provider.identity_ial = ""
    provider.identity_verified_at = None
    provider.save()
    make_mirror_device(provider, "MyiPhone")
    html = device_section(page(clinician_client))
    assert "Your identity has not been confirmed with ID.me yet, so your devices cannot be used to sign" in html
    provider.identity_ial = "ial2"
    provider.identity_verified_at = timezone.now()
    provider.save()
    assert "cannot be used to sign" not in device_section(page(clinician_client))


def test_stale_mirror_queues_one_background_sync_and_renders_at_once(
    clinician_client: Client, provider: Provider, make_mirror_device: MakeDevice
) -> None:
    make_mirror_device(provider, "MyiPhone")
    html = page(clinician_client)
    assert "Checking ID.me for changes" in html
    assert "MyiPhone" in device_section(html)
    state = DeviceSyncState.objects.get(provider=provider)
    first_request = state.background_requested_at
    assert first_request is not None
    page(clinician_client)
    state.refresh_from_db()
    assert state.background_requested_at == first_request  # no second queueing within a minute
    fresh_sync(provider)
    assert "Checking ID.me for changes" not in page(clinician_client)


@pytest.mark.req("ASVS-05")
def test_select_primary_is_audited_and_idempotent(
    clinician_client: Client, provider: Provider, make_mirror_device: MakeDevice
) -> None:
    old = make_mirror_device(provider, "android", primary=True)
    new = make_mirror_device(provider, "MyiPhone")
    response = clinician_client.post(SELECT, {"device_id": new.pk}, follow=True)

    html = response.content.decode()
    assert "MyiPhone is now your primary device." in html
    assert [r[0].split(" Added")[0] for r in rows(html) if r[2] == "Is Primary"] == ["MyiPhone"]
    old.refresh_from_db()
    assert not old.is_primary
    event = AuditEvent.objects.get(action="mfa.primary_device_selected")
    assert event.target_id == str(new.pk) and event.details["previous"] == "android"
    assert event.actor_id == provider.user_id
    clinician_client.post(SELECT, {"device_id": new.pk})
    assert AuditEvent.objects.filter(action="mfa.primary_device_selected").count() == 1
    assert list(ProviderDevice.objects.filter(is_primary=True)) == [new]


@pytest.mark.req("ASVS-06")
def test_another_providers_device_is_404_and_changes_nothing(
    clinician_client: Client, provider: Provider, other_provider: Provider, make_mirror_device: MakeDevice
) -> None:
    theirs = make_mirror_device(other_provider, "Cuddy's phone")
    mine = make_mirror_device(provider, "MyiPhone", primary=True)

    response = clinician_client.post(SELECT, {"device_id": theirs.pk})

    assert response.status_code == 404
    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert not theirs.is_primary and mine.is_primary
    assert "Cuddy" not in device_section(page(clinician_client))
    assert clinician_client.post(SELECT, {"device_id": "999999"}).status_code == 404
    for bad in ({}, {"device_id": "one"}, {"device_id": "-1"}, {"device_id": "9" * 40}):
        assert clinician_client.post(SELECT, bad).status_code == 400
    mine.refresh_from_db()
    assert mine.is_primary


@pytest.mark.req("ASVS-05")
def test_select_primary_without_recent_sign_in_asks_for_the_password_then_continues(
    clinician_client: Client, provider: Provider, make_mirror_device: MakeDevice
) -> None:
    device = make_mirror_device(provider, "MyiPhone")
    make_stale(clinician_client)
    url = SELECT

    response = clinician_client.post(url, {"device_id": device.pk})

    assert response.status_code == 302 and response["Location"].startswith("/account/reauthenticate/")
    device.refresh_from_db()
    assert not device.is_primary
    wrong = clinician_client.post(response["Location"], {"password": "not-my-password", "next": url})
    assert wrong.status_code == 400
    device.refresh_from_db()
    assert not device.is_primary
    prompt = clinician_client.post(response["Location"], {"password": TEST_PASSWORD, "next": url})
    html = prompt.content.decode()
    assert f'action="{url}"' in html and ">Continue</button>" in html
    assert f'<input type="hidden" name="device_id" value="{device.pk}">' in html
    assert not ProviderDevice.objects.get(pk=device.pk).is_primary  # nothing happens before Continue
    clinician_client.post(url, {"device_id": device.pk})
    device.refresh_from_db()
    assert device.is_primary


@pytest.mark.req("ASVS-08")
def test_select_primary_needs_a_csrf_token_and_a_post(
    clinician: User, provider: Provider, make_mirror_device: MakeDevice
) -> None:
    device = make_mirror_device(provider, "MyiPhone")
    browser = Client(enforce_csrf_checks=True)
    browser.login(username=clinician.username, password=TEST_PASSWORD)
    url = SELECT

    assert browser.post(url, {"device_id": device.pk}).status_code == 403
    assert browser.get(url).status_code == 405
    assert browser.post("/mfa/devices/refresh/").status_code == 403
    device.refresh_from_db()
    assert not device.is_primary
    html = browser.get(ERX_INFO).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert token is not None
    assert browser.post(url, {"csrfmiddlewaretoken": token.group(1), "device_id": device.pk}).status_code == 302
    device.refresh_from_db()
    assert device.is_primary


def test_device_pages_need_sign_in(provider: Provider, make_mirror_device: MakeDevice) -> None:
    device = make_mirror_device(provider, "MyiPhone")
    anonymous = Client()
    for method, url in [
        ("get", "/mfa/devices/returned/"),
        ("post", "/mfa/devices/refresh/"),
        ("post", SELECT),
        ("get", "/mfa/help/change-phone/"),
    ]:
        response = getattr(anonymous, method)(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url
    device.refresh_from_db()
    assert not device.is_primary


def test_help_page_explains_changing_phones(clinician_client: Client, provider: Provider) -> None:
    html = page(clinician_client, "/mfa/help/change-phone/")
    assert "<h1>What happens to my MFA when I change my phone?</h1>" in html
    for phrase in (
        "Delete the old device",
        "Add the new device",
        "Choose the primary device",
        "Several code generators",
        "Why nicknames help",
        "MyiPhone, OfficeiPhone, MyiPad, OfficeiPad",
        ">Update MFA Device</a>",
    ):
        assert phrase in html, phrase
    link = re.search(r'<a href="([^"]+)">What happens to my MFA when I change my phone\?</a>', page(clinician_client))
    assert link is not None and link.group(1) == "/mfa/help/change-phone/"


def test_erx_info_queries_do_not_grow_with_the_number_of_devices(
    clinician_client: Client, provider: Provider, make_mirror_device: MakeDevice
) -> None:
    fresh_sync(provider)
    make_mirror_device(provider, "device 0", primary=True)
    page(clinician_client)  # warm the session and the provider row
    # The section is rendered afresh (as after the sync that wrote the mirror), then cached.
    erx_cache.bump_section(erx_cache.DEVICES, provider.pk)
    with CaptureQueriesContext(connection) as one:
        html = page(clinician_client)
    assert len(rows(html)) == 1
    with CaptureQueriesContext(connection) as one_cached:
        page(clinician_client)
    for n in range(1, 50):
        make_mirror_device(provider, f"device {n}", "push" if n % 2 else "totp")
    with CaptureQueriesContext(connection) as fifty:
        html = page(clinician_client)
    assert len(rows(html)) == 50
    with CaptureQueriesContext(connection) as fifty_cached:
        assert len(rows(page(clinician_client))) == 50
    assert len(fifty.captured_queries) == len(one.captured_queries), [q["sql"] for q in fifty.captured_queries]
    assert len(fifty_cached.captured_queries) == len(one_cached.captured_queries) < len(one.captured_queries)


def test_recently_authenticated_session_marker_is_what_reauth_reads(clinician_client: Client) -> None:
    # Guard for make_stale(): the session key it ages is the one sign-in sets.
    from providers.reauth import AUTHENTICATED_AT_KEY

    assert time.time() - float(clinician_client.session[AUTHENTICATED_AT_KEY]) < 60
