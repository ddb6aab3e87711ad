"""eRx Info renders each section from a cached fragment until one of its writes bumps its version.

Every write goes through the public surface (pages, the ID.me sandbox and the DEA registry over
real HTTP); the database commits for real (transaction=True), so the after-commit bumps run as
in production.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from idme_sandbox.models import Device, DeviceKind
from mfa.models import DeviceSyncState, ProviderDevice
from providers import erx_cache
from providers.models import IdentityAssurance, Practice, PracticeRole, Provider, User
from tests.conftest import TEST_PASSWORD, join, login_through_form
from tests.epcs_access.test_epcs_permissions import People, grant_directly
from tests.idme_fixtures import IdmeSandboxHandle
from tests.mfa.conftest import LiveClinician, link
from tests.registry_fixtures import DeaRegistryHandle, verified_registration

pytestmark = pytest.mark.django_db(transaction=True)

ERX_INFO = "/account/provider-settings/erx-info/"
CSRF_INPUT = re.compile(r'<input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)">')


def signed_in(user: User) -> Client:
    client = Client()
    assert login_through_form(client, user.username).status_code == 302
    return client


def signed_in_checking_csrf(user: User) -> Client:
    """A browser whose every POST must carry the CSRF token of its own session."""
    client = Client(enforce_csrf_checks=True)
    [token] = CSRF_INPUT.findall(client.get("/accounts/login/").content.decode())
    data = {"username": user.username, "password": TEST_PASSWORD, "csrfmiddlewaretoken": token}
    assert client.post("/accounts/login/", data).status_code == 302
    return client


def page(client: Client) -> str:
    response = client.get(ERX_INFO)
    assert response.status_code == 200
    return response.content.decode()


def section(html: str, heading_id: str) -> str:
    return html.split(f'<section aria-labelledby="{heading_id}"')[1].split("</section>")[0]


def confirmed(provider: Provider, uuid: str = "") -> Provider:
    """Arranged before the first view: identity confirmed at IAL2, the mirror freshly synced."""
    if uuid:
        provider.idme_uuid = uuid
    provider.identity_ial = IdentityAssurance.IAL2
    provider.identity_verified_at = timezone.now()
    provider.save()
    DeviceSyncState.objects.update_or_create(
        provider=provider, defaults={"last_synced_at": timezone.now(), "last_attempt_at": timezone.now()}
    )
    return provider


@pytest.fixture
def house(clinician: User) -> Provider:
    return confirmed(Provider.objects.get(user=clinician), "a1b2c3d4e5f60718293a4b5c6d7e8f90")


@pytest.fixture
def manager(make_user: Callable[..., User], practice: Practice) -> User:
    user = make_user("manager.lee", first_name="Casey", last_name="Lee", email="lee@example.test")
    return join(user, practice, PracticeRole.ACCESS_MANAGER)


def dea_form(number: str) -> dict[str, str]:
    expires_on = (timezone.localdate() + dt.timedelta(days=365)).isoformat()
    return {"number": number, "state": "NJ", "expires_on": expires_on, "schedule_2": "on", "schedule_3": "on"}


# --- the cache saves the work ----------------------------------------------------------------
def test_a_second_view_is_served_from_the_cache_with_fewer_queries(
    clinician: User, house: Provider, django_assert_num_queries: Any
) -> None:
    ProviderDevice.objects.create(
        provider=house, idme_device_id="dev-1", name="MyiPhone", kind="push", added_at=timezone.now(), is_primary=True
    )
    client = signed_in(clinician)
    client.get("/account/provider-settings/general/")  # the session settles after sign-in
    # Session, user, memberships (the practice is checked on every request), provider, sync
    # state; then the sections' own reads: device rows,
    # DEA registrations and state licenses (credentials), EPCS permission, DEA registrations
    # and pending EPCS request (the EPCS section, epcs_access's, reads the registrations itself).
    with django_assert_num_queries(11):
        first = page(client)
    # Session, user, memberships, provider and the sync state (read on every view: stale
    # mirror, notices).
    with django_assert_num_queries(5):
        second = page(client)
    # The same page, but for the CSRF tokens (each render masks the session's secret anew).
    assert CSRF_INPUT.sub("", first) == CSRF_INPUT.sub("", second)
    assert "MyiPhone" in second and "erx-info-csrf-placeholder" not in second


# --- each kind of write shows on the next view -------------------------------------------------
def test_a_device_added_at_idme_shows_after_the_sync_and_the_primary_choice_at_once(
    idme_sandbox_live: IdmeSandboxHandle, make_user: Callable[..., User]
) -> None:
    account = idme_sandbox_live.create_account("greg.house@example.test", fname="Gregory", lname="House")
    user = make_user("dr.house", first_name="Gregory", last_name="House", email="house@example.test")
    provider = link(Provider.objects.create(user=user, display_name="Dr. Gregory House"), account.uuid)
    live = LiveClinician(idme_sandbox_live, user, provider, account, signed_in(user))
    live.add_code_generator("MyiPhone")
    live.client.post("/mfa/devices/refresh/")
    assert "MyiPhone" in section(page(live.client), "devices-heading")
    assert "MyiPhone" in section(page(live.client), "devices-heading")  # cached

    live.add_push_device("OfficeiPad")
    live.client.post("/mfa/devices/refresh/")  # the sync that mirrors it bumps "devices"
    devices = section(page(live.client), "devices-heading")
    assert "MyiPhone" in devices and "OfficeiPad" in devices
    assert "<strong>Is Primary</strong>" not in devices

    ipad = ProviderDevice.objects.get(provider=provider, name="OfficeiPad")
    assert live.client.post("/mfa/devices/primary/", {"device_id": ipad.pk}).status_code == 302
    devices = section(page(live.client), "devices-heading")
    assert "<strong>Is Primary</strong>" in devices
    assert 'Select as the primary device<span class="visually-hidden"> (OfficeiPad)' not in devices

    Device.objects.filter(account=account, kind=DeviceKind.TOTP).delete()  # deleted at ID.me
    live.client.post("/mfa/devices/refresh/")
    assert "MyiPhone" not in section(page(live.client), "devices-heading")


def test_dea_registrations_licenses_and_details_show_as_they_are_added_and_verified(
    dea_registry_live: DeaRegistryHandle, clinician: User, house: Provider, manager: User
) -> None:
    client = signed_in(clinician)
    assert "No DEA registration yet." in page(client)
    assert client.post("/account/credentials/dea/add/", dea_form("AH1234563")).status_code == 302
    credentials = section(page(client), "credentials-heading")
    assert "AH1234563" in credentials
    assert "Unverified: an EPCS access manager must verify it against the DEA registry" in credentials

    registration = house.dea_registrations.get()
    dea_registry_live.add_matching(registration, first_name="Gregory")
    verified = signed_in(manager).post(f"/account/credential-verification/dea/{registration.pk}/verify/", follow=True)
    assert "matches the DEA registry and is verified" in verified.content.decode()
    assert "Verified against the DEA registry by Casey Lee" in section(page(client), "credentials-heading")

    expires_on = (timezone.localdate() + dt.timedelta(days=365)).isoformat()
    client.post("/account/credentials/licenses/add/", {"state": "NJ", "number": "25MA12345", "expires_on": expires_on})
    assert "25MA12345" in section(page(client), "credentials-heading")

    client.post("/account/credentials/details/", {"medicaid_id": "NJ-778899", "prescribing_name": ""})
    assert 'value="NJ-778899"' in section(page(client), "credentials-heading")


def test_identity_confirmed_at_idme_shows_on_the_next_view(
    idme_sandbox_live: IdmeSandboxHandle, make_user: Callable[..., User]
) -> None:
    from tests.providers.test_identity_binding import browser, idme_account, verify

    user = make_user("dr.alice", first_name="Alice", last_name="Smith", email="alice@example.test")
    Provider.objects.create(user=user, display_name="Dr. Alice Smith")
    ehr = browser(idme_sandbox_live, user)
    assert "Your identity has not been confirmed with ID.me yet." in section(page(ehr), "identity-heading")
    page(ehr)  # cached

    # Another name at ID.me: refused and kept for review (the provider row does not change).
    verify(ehr, idme_sandbox_live, idme_account(idme_sandbox_live, "Alicia", "Smyth"))
    assert "It is waiting for an EPCS access manager's review" in section(page(ehr), "identity-heading")

    verify(ehr, idme_sandbox_live, idme_account(idme_sandbox_live, "Alice", "Smith"))

    identity = section(page(ehr), "identity-heading")
    assert "Your identity has now been confirmed" in identity
    assert "Verify with ID.me" not in identity and "waiting for an EPCS access manager" not in identity


@pytest.fixture
def registrant(house: Provider) -> Provider:
    """Dr. House with a DEA registration an access manager verified against the registry."""
    expires_on = timezone.localdate() + dt.timedelta(400)
    verified_registration(house.dea_registrations.create(number="AH1234563", state="NJ", expires_on=expires_on))
    return house


def test_epcs_permission_changes_and_a_lost_device_report_show_on_the_next_view(
    clinician: User, registrant: Provider, manager: User
) -> None:
    client = signed_in(clinician)
    assert "You do not have EPCS permission yet." in section(page(client), "epcs-status-heading")
    assert "waiting for approval" not in page(client)

    entered = signed_in(manager).post(
        "/account/epcs-permissions/requests/", {"provider": registrant.pk, "action": "grant", "note": "New hire"}
    )
    assert entered.status_code == 302
    assert "A request to grant your EPCS permission is waiting for approval." in page(client)

    # A lost-device report cancels the pending request; the section says so at once.
    response = client.post("/account/epcs/report-lost-device/", {"description": "iPhone 15"}, follow=True)
    assert response.status_code == 200
    assert "waiting for approval" not in page(client)


def test_a_granted_permission_shows_and_a_lost_device_report_revokes_it_on_the_next_view(
    clinician: User, registrant: Provider, manager: User, make_user: Callable[..., User], practice: Practice
) -> None:
    jones = join(make_user("dr.jones", first_name="Brian", last_name="Jones"), practice)
    client = signed_in(clinician)
    assert "You do not have EPCS permission yet." in page(client)
    # Granted as test_epcs_permissions arranges it (the two-person approval is tested there).
    grant_directly(
        People(practice=practice, manager=manager, prescriber=registrant, registrant=jones, bystander=manager)
    )
    assert "You may sign prescriptions for controlled substances (EPCS)." in page(client)

    client.post("/account/epcs/report-lost-device/", {"description": "iPhone 15"})

    epcs = section(page(client), "epcs-status-heading")
    assert "Your EPCS permission was revoked" in epcs
    assert "You may sign prescriptions for controlled substances (EPCS)." not in epcs


def test_a_credentials_write_shows_in_the_epcs_status_on_the_next_view(
    clinician: User, registrant: Provider, manager: User, make_user: Callable[..., User], practice: Practice
) -> None:
    """The EPCS section depends on "credentials": an edited registration waits for verification
    again, which stops signing without ending the permission (no "epcs" write happens)."""
    jones = join(make_user("dr.jones", first_name="Brian", last_name="Jones"), practice)
    grant_directly(
        People(practice=practice, manager=manager, prescriber=registrant, registrant=jones, bystander=manager)
    )
    client = signed_in(clinician)
    assert "You may sign prescriptions for controlled substances (EPCS)." in section(
        page(client), "epcs-status-heading"
    )
    page(client)  # cached

    registration = registrant.dea_registrations.get()
    edited = client.post(f"/account/credentials/dea/{registration.pk}/edit/", dea_form("AH1234563"))
    assert edited.status_code == 302

    epcs = section(page(client), "epcs-status-heading")
    assert "You have no current, verified DEA registration." in epcs
    assert "You may sign prescriptions for controlled substances (EPCS)." not in epcs
    assert registrant.epcs_permissions.get(practice=practice).is_granted


def test_a_write_retires_the_version_at_once_and_again_after_commit(house: Provider) -> None:
    before = erx_cache.section_version(erx_cache.CREDENTIALS, house.pk)
    with transaction.atomic():
        erx_cache.bump_section(erx_cache.CREDENTIALS, house.pk)
        # What a reader caches while the write is still uncommitted goes under this version ...
        during = erx_cache.section_version(erx_cache.CREDENTIALS, house.pk)
        assert during != before
    # ... which the bump after commit retires.
    assert erx_cache.section_version(erx_cache.CREDENTIALS, house.pk) not in (before, during)


# --- per-request content stays out of the cache -----------------------------------------------
@pytest.mark.req("ASVS-08")
def test_each_session_gets_its_own_csrf_token_in_the_cached_sections(clinician: User, house: Provider) -> None:
    first = signed_in_checking_csrf(clinician)
    second = signed_in_checking_csrf(clinician)
    first_tokens = set(CSRF_INPUT.findall(page(first)))
    second_html = page(second)  # the sections come from the cache the first view filled
    second_tokens = set(CSRF_INPUT.findall(second_html))
    assert first_tokens and second_tokens and not first_tokens & second_tokens
    assert "erx-info-csrf-placeholder" not in second_html
    [token] = re.findall(
        r'action="/account/credentials/details/".*?name="csrfmiddlewaretoken" value="([^"]+)"', second_html, re.S
    )
    # The second session posts a form of the cached section with its own token ...
    saved = second.post("/account/credentials/details/", {"csrfmiddlewaretoken": token, "medicaid_id": "NJ-1"})
    assert saved.status_code == 302
    # ... and the first session's token from the first render is not accepted for the second session.
    [other] = re.findall(
        r'action="/account/credentials/details/".*?name="csrfmiddlewaretoken" value="([^"]+)"', page(first), re.S
    )
    refused = second.post("/account/credentials/details/", {"csrfmiddlewaretoken": other, "medicaid_id": "NJ-2"})
    assert refused.status_code == 403
    house.refresh_from_db()
    assert house.medicaid_id == "NJ-1"


def test_messages_and_the_background_sync_still_happen_on_a_cached_view(clinician: User, house: Provider) -> None:
    client = signed_in(clinician)
    page(client)
    state = DeviceSyncState.objects.get(provider=house)
    state.notices = ["Your primary device was removed at ID.me; select a new one."]
    state.last_synced_at = timezone.now() - dt.timedelta(hours=2)  # stale: a background sync is due
    state.save()
    html = page(client)
    assert "Your primary device was removed at ID.me; select a new one." in html
    assert "Checking ID.me for changes" in html
    state.refresh_from_db()
    assert state.notices == [] and state.background_requested_at is not None
    assert "Your primary device was removed at ID.me; select a new one." not in page(client)  # shown once


# --- one provider never sees another's sections (ASVS-06) -------------------------------------
@pytest.mark.req("ASVS-06")
def test_one_providers_fragments_never_appear_for_another(
    clinician: User, house: Provider, make_user: Callable[..., User]
) -> None:
    cuddy_user = make_user("dr.cuddy", first_name="Lisa", last_name="Cuddy")
    cuddy = confirmed(Provider.objects.create(user=cuddy_user, display_name="Dr. Lisa Cuddy"), "0f9e8d7c6b5a4938")
    for provider, device, number in ((house, "HousePhone", "AH1234563"), (cuddy, "CuddyPad", "BC1234562")):
        ProviderDevice.objects.create(
            provider=provider, idme_device_id=f"d-{device}", name=device, kind="totp", added_at=timezone.now()
        )
        provider.dea_registrations.create(
            number=number, state="NJ", expires_on=timezone.localdate() + dt.timedelta(400)
        )
    house_client, cuddy_client = signed_in(clinician), signed_in(cuddy_user)
    for _ in range(2):  # the first view of each fills the cache, the second reads it
        house_page, cuddy_page = page(house_client), page(cuddy_client)
        assert "HousePhone" in house_page and "AH1234563" in house_page
        assert "CuddyPad" not in house_page and "BC1234562" not in house_page
        assert "CuddyPad" in cuddy_page and "BC1234562" in cuddy_page
        assert "HousePhone" not in cuddy_page and "AH1234563" not in cuddy_page
    # The same section, version and viewer context for two providers never share a key.
    assert erx_cache.section_version(erx_cache.DEVICES, house.pk) != erx_cache.section_version(
        erx_cache.DEVICES, cuddy.pk
    )
