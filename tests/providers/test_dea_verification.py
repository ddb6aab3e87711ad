"""Verifying DEA registrations against the DEA registry and state licenses at the state board
(DEA-20): an access manager other than the prescriber verifies; only a match counts; every step
is audited. The registry is the sandbox's simulator on the live server, reached over real HTTP
through `dea_registry_client`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from idme_sandbox.dea_registry.demo import seed_demo_registry
from providers.credentials.rules import has_current_registration, license_is_verified, registration_is_verified
from providers.models import DeaRegistration, IdentityAssurance, Practice, PracticeRole, Provider, StateLicense, User
from providers.roles import is_registrant
from tests.conftest import join, login_through_form
from tests.registry_fixtures import DeaRegistryHandle

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = "/account/credential-verification/"
ERX_INFO = "/account/provider-settings/erx-info/"


def verify_url(registration: DeaRegistration) -> str:
    return f"/account/credential-verification/dea/{registration.pk}/verify/"


def license_url(license_: StateLicense) -> str:
    return f"/account/credential-verification/licenses/{license_.pk}/verify/"


def signed_in(user: User) -> Client:
    client = Client()
    assert login_through_form(client, user.username).status_code == 302
    return client


def dea_form(number: str, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "number": number,
        "state": "NJ",
        "expires_on": (timezone.localdate() + dt.timedelta(days=365)).isoformat(),
        "schedule_2": "on",
        "schedule_2n": "on",
        "schedule_3": "on",
        "schedule_3n": "on",
        "schedule_4": "on",
        "schedule_5": "on",
    }
    data.update(extra)
    return data


@dataclass
class World:
    practice: Practice  # the manager and Dr. House work in it
    registry: DeaRegistryHandle
    manager: User
    house: Provider
    registration: DeaRegistration  # AH1234563, entered by Dr. House on eRx Info: unverified
    house_client: Client
    manager_client: Client

    def verify(self, registration: DeaRegistration | None = None) -> Any:
        return self.manager_client.post(verify_url(registration or self.registration), follow=True)


@pytest.fixture
def world(
    dea_registry_live: DeaRegistryHandle, make_user: Callable[..., User], clinician: User, practice: Practice
) -> World:
    manager = make_user("manager.lee", first_name="Casey", last_name="Lee", email="lee@example.test")
    join(manager, practice, PracticeRole.ACCESS_MANAGER)
    house = Provider.objects.get(user=clinician)
    house.identity_ial = IdentityAssurance.IAL2
    house.identity_verified_at = timezone.now()
    house.save()
    house_client = signed_in(clinician)
    response = house_client.post("/account/credentials/dea/add/", dea_form("AH1234563"))
    assert response.status_code == 302
    return World(
        practice=practice,
        registry=dea_registry_live,
        manager=manager,
        house=house,
        registration=DeaRegistration.objects.get(number="AH1234563"),
        house_client=house_client,
        manager_client=signed_in(manager),
    )


# --- entered is not verified ------------------------------------------------------------
@pytest.mark.req("DEA-20")
def test_a_registration_entered_on_erx_info_is_unverified_and_does_not_count(world: World) -> None:
    assert not registration_is_verified(world.registration)
    assert not has_current_registration(world.house)
    assert not is_registrant(world.house.user, world.practice)
    page = world.house_client.get(ERX_INFO).content.decode()
    assert "Unverified: an EPCS access manager must verify it against the DEA registry" in page
    assert "has not been verified against the DEA registry" in page
    # The access manager sees it waiting on the Credential Verification page.
    listing = world.manager_client.get(PAGE)
    assert listing.status_code == 200
    assert "AH1234563" in listing.content.decode()


@pytest.mark.req("DEA-20")
@pytest.mark.req("DEA-13")
def test_an_access_manager_verifies_a_matching_registration_against_the_registry(world: World) -> None:
    world.registry.add_matching(world.registration, first_name="Gregory")
    response = world.verify()
    assert response.status_code == 200
    assert "matches the DEA registry and is verified" in response.content.decode()
    registration = DeaRegistration.objects.get(pk=world.registration.pk)
    assert registration_is_verified(registration)
    assert registration.verified_by == world.manager and registration.verified_at is not None
    answer = registration.registry_answer
    assert answer["dea_number"] == "AH1234563" and answer["status"] == "active"
    assert answer["registrant_last_name"] == "House" and answer["state"] == "NJ"
    assert answer["schedules"] == ["2", "2N", "3", "3N", "4", "5"]
    event = AuditEvent.objects.get(action="credentials.dea_verified")
    assert event.actor == world.manager
    assert event.details["registry_answer"] == answer and event.details["seeded"] is False
    assert has_current_registration(world.house) and is_registrant(world.house.user, world.practice)
    assert "AH1234563" not in world.manager_client.get(PAGE).content.decode()
    assert "Verified against the DEA registry by Casey Lee" in world.house_client.get(ERX_INFO).content.decode()


@pytest.mark.req("DEA-20")
@pytest.mark.parametrize(
    ("registry", "field", "says"),
    [
        ({"status": "expired"}, "status", "lists AH1234563 as expired, not active"),
        ({"status": "revoked"}, "status", "lists AH1234563 as revoked, not active"),
        (
            {"schedules": ["3", "3N", "4", "5"]},
            "schedules",
            "eRx Info lists Schedule II, IIN, which the DEA registry does not",
        ),
        (
            {"last_name": "Walker"},
            "name",
            "The registrant&#x27;s last name at the DEA is Walker; the prescriber&#x27;s is House",
        ),
        ({"state": "NY"}, "state", "The state at the DEA is NY; eRx Info says NJ"),
        ({"expires_on": dt.date(2027, 1, 31)}, "expires_on", "The expiry date at the DEA is 01/31/2027"),
        ({"business_activity": "pharmacy"}, "business_activity", "not a practitioner who may prescribe"),
    ],
)
def test_a_mismatch_is_refused_naming_the_field_and_audited(
    world: World, registry: dict[str, Any], field: str, says: str
) -> None:
    world.registry.add_matching(world.registration, **registry)
    page = world.verify().content.decode()
    assert "does not match the DEA registry, so it stays unverified" in page
    assert says in page
    registration = DeaRegistration.objects.get(pk=world.registration.pk)
    assert not registration_is_verified(registration) and registration.verified_by is None
    assert registration.registry_answer == {}
    event = AuditEvent.objects.get(action="credentials.dea_verification_refused")
    assert event.outcome == "denied" and event.actor == world.manager
    assert [m["field"] for m in event.details["mismatches"]] == [field]
    assert event.details["registry_answer"]["dea_number"] == "AH1234563"
    assert not has_current_registration(world.house)


@pytest.mark.req("DEA-20")
def test_the_documented_demo_numbers_show_each_refusal(world: World, make_user: Callable[..., User]) -> None:
    """The registry's demo data: expired (AW7654329), revoked (BR2468014), no Schedule II (FP1357929)."""
    seed_demo_registry()
    expiry = {
        "AW7654329": dt.date(timezone.localdate().year - 1, 6, 30),
        "BR2468014": dt.date(timezone.localdate().year + 2, 12, 31),
        "FP1357929": dt.date(timezone.localdate().year + 2, 12, 31),
    }
    cases = [
        ("dr.walker", "Grace", "Walker", "AW7654329", "NY", "as expired, not active"),
        ("dr.reyes", "Daniel", "Reyes", "BR2468014", "NJ", "as revoked, not active"),
        ("dr.patel", "Priya", "Patel", "FP1357929", "NY", "eRx Info lists Schedule II, IIN, which the DEA registry"),
    ]
    for username, first, last, number, state, says in cases:
        user = join(make_user(username, first_name=first, last_name=last), world.practice)
        provider = Provider.objects.create(user=user, display_name=f"Dr. {first} {last}")
        registration = DeaRegistration.objects.create(
            provider=provider, number=number, state=state, expires_on=expiry[number]
        )
        # An expired registration cannot even be listed as current; the service still refuses it.
        page = world.verify(registration).content.decode()
        assert says in page, (number, page[:3000])
        assert not registration_is_verified(DeaRegistration.objects.get(pk=registration.pk))
    assert AuditEvent.objects.filter(action="credentials.dea_verification_refused").count() == 3


@pytest.mark.req("DEA-20")
def test_a_number_the_registry_does_not_know_stays_unverified(world: World) -> None:
    page = world.verify().content.decode()
    assert "The DEA registry has no registration AH1234563. It stays unverified." in page
    assert not registration_is_verified(DeaRegistration.objects.get(pk=world.registration.pk))
    event = AuditEvent.objects.get(action="credentials.dea_verification_refused")
    assert event.details["code"] == "not_in_registry"


@pytest.mark.req("DEA-20")
def test_an_unreachable_registry_leaves_it_unverified_and_loses_nothing(world: World, settings: Any) -> None:
    world.registry.add_matching(world.registration)
    settings.DEA_REGISTRY_URL = "http://127.0.0.1:9/dea-registry"
    before = DeaRegistration.objects.filter(pk=world.registration.pk).values().get()
    page = world.verify().content.decode()
    assert "The DEA registry could not be asked" in page
    assert "stays unverified and nothing was changed; try again later" in page
    assert DeaRegistration.objects.filter(pk=world.registration.pk).values().get() == before
    event = AuditEvent.objects.get(action="credentials.dea_verification_failed")
    assert event.outcome == "failure" and event.details["registry_error"] == "registry_unavailable"
    # Once the registry answers again, the same registration verifies.
    settings.DEA_REGISTRY_URL = world.registry.base_url
    world.verify()
    assert registration_is_verified(DeaRegistration.objects.get(pk=world.registration.pk))


@pytest.mark.req("DEA-20")
def test_the_prescriber_cannot_verify_their_own_registration(world: World) -> None:
    world.registry.add_matching(world.registration)
    # As a prescriber only: not an access manager.
    response = world.house_client.post(verify_url(world.registration))
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action="credentials.verification_page_refused", actor=world.house.user).exists()
    assert world.house_client.get(PAGE).status_code == 403
    # Even as an access manager, never their own.
    house = join(world.house.user, world.practice, PracticeRole.ACCESS_MANAGER)
    response = signed_in(house).post(verify_url(world.registration))
    assert response.status_code == 403
    assert "You cannot verify your own credentials" in response.content.decode()
    refused = AuditEvent.objects.get(action="credentials.dea_verification_refused")
    assert refused.actor == house and refused.details["code"] == "own_credential"
    assert not registration_is_verified(DeaRegistration.objects.get(pk=world.registration.pk))


@pytest.mark.req("DEA-20")
@pytest.mark.req("DEA-05")
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"schedule_2": "", "schedule_2n": ""}, "schedule_2"),
        ({"expires_on": "2099-12-31"}, "expires_on"),
        ({"state": "NY"}, "state"),
    ],
)
def test_changing_a_verified_value_makes_it_unverified_again(world: World, change: dict[str, str], field: str) -> None:
    world.registry.add_matching(world.registration)
    world.verify()
    assert has_current_registration(world.house)
    data = dea_form("AH1234563", expires_on=world.registration.expires_on.isoformat())
    data.update(change)
    data = {k: v for k, v in data.items() if v != ""}
    response = world.house_client.post(f"/account/credentials/dea/{world.registration.pk}/edit/", data)
    assert response.status_code == 302
    registration = DeaRegistration.objects.get(pk=world.registration.pk)
    assert not registration_is_verified(registration) and registration.verified_by is None
    assert not has_current_registration(world.house) and not is_registrant(world.house.user, world.practice)
    event = AuditEvent.objects.get(action="credentials.dea_unverified")
    assert field in event.details["changed"] and event.details["previously_verified_by"] == "manager.lee"
    # The registry still says what it said: verifying again names the difference.
    page = world.verify().content.decode()
    assert "does not match the DEA registry" in page


@pytest.mark.req("DEA-20")
def test_a_row_changed_behind_the_services_back_no_longer_counts(world: World) -> None:
    """The verification vouches for the values it checked: a change made anywhere (admin, shell,
    SQL) that did not clear it still does not count."""
    world.registry.add_matching(world.registration)
    world.verify()
    DeaRegistration.objects.filter(pk=world.registration.pk).update(expires_on=dt.date(2099, 12, 31))
    registration = DeaRegistration.objects.get(pk=world.registration.pk)
    assert registration.verified_at is not None
    assert not registration_is_verified(registration)
    assert not has_current_registration(world.house)


# --- state licenses --------------------------------------------------------------------
@pytest.mark.req("DEA-20")
def test_an_access_manager_records_the_state_board_check_of_a_license(world: World) -> None:
    expires = (timezone.localdate() + dt.timedelta(days=400)).isoformat()
    add = {"state": "NJ", "number": "25MA12345", "expires_on": expires}
    assert world.house_client.post("/account/credentials/licenses/add/", add).status_code == 302
    license_ = StateLicense.objects.get(number="25MA12345")
    assert not license_is_verified(license_)
    assert "Unverified: an EPCS access manager must verify it at the state board" in (
        world.house_client.get(ERX_INFO).content.decode()
    )
    prefix = f"license-{license_.pk}"
    # Bad input: a clear form error, nothing recorded.
    response = world.manager_client.post(license_url(license_), {f"{prefix}-source": "", f"{prefix}-reference": ""})
    assert response.status_code == 400
    assert not license_is_verified(StateLicense.objects.get(pk=license_.pk))
    # The prescriber cannot record it for themselves.
    assert (
        world.house_client.post(
            license_url(license_), {f"{prefix}-source": "NJ board", f"{prefix}-reference": "X1"}
        ).status_code
        == 403
    )
    response = world.manager_client.post(
        license_url(license_),
        {f"{prefix}-source": "NJ Division of Consumer Affairs license lookup", f"{prefix}-reference": "NJ-LV-88231"},
    )
    assert response.status_code == 302
    license_ = StateLicense.objects.get(pk=license_.pk)
    assert license_is_verified(license_) and license_.verified_by == world.manager
    assert license_.verification_reference == "NJ-LV-88231"
    event = AuditEvent.objects.get(action="credentials.license_verified")
    assert event.details["source"] == "NJ Division of Consumer Affairs license lookup"
    assert event.details["reference"] == "NJ-LV-88231" and event.actor == world.manager
    # Changing it makes it unverified again, audited.
    edit = {**add, "number": "25MA99999"}
    assert world.house_client.post(f"/account/credentials/licenses/{license_.pk}/edit/", edit).status_code == 302
    assert not license_is_verified(StateLicense.objects.get(pk=license_.pk))
    assert AuditEvent.objects.filter(action="credentials.license_unverified").exists()


@pytest.mark.req("DEA-20")
def test_verifying_needs_a_recent_password_entry(world: World) -> None:
    from providers.reauth import AUTHENTICATED_AT_KEY

    world.registry.add_matching(world.registration)
    session = world.manager_client.session
    session[AUTHENTICATED_AT_KEY] = 0
    session.save()
    response = world.manager_client.post(verify_url(world.registration))
    assert response.status_code == 302 and "/reauthenticate" in response["Location"]
    assert not registration_is_verified(DeaRegistration.objects.get(pk=world.registration.pk))
