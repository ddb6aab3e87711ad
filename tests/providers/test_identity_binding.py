"""Identity binding (DEA-20): the ID.me identity must be the provider's own; a difference is
refused, audited and kept for an EPCS access manager, who may confirm it with a reason.

Every test drives the real OIDC flow against the sandbox on the live server.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from urllib.parse import urlparse

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from idme_sandbox.models import Account
from providers.identity.binding import normalise_name
from providers.models import IdentityMismatch, Practice, PracticeRole, Provider, User
from providers.reauth import AUTHENTICATED_AT_KEY
from tests.conftest import join, login_through_form
from tests.idme_fixtures import IdmeSandboxHandle

pytestmark = pytest.mark.django_db(transaction=True)
ERX_INFO = "/account/provider-settings/erx-info/"
REVIEWS = "/account/identity-reviews/"
ALICE_BORN = dt.date(1979, 3, 14)


@pytest.fixture
def alice(make_user: Any, practice: Practice) -> User:
    """dr.alice: Alice Smith on her EHR profile, born 1979-03-14; a prescriber of `practice`."""
    user = make_user("dr.alice", first_name="Alice", last_name="Smith", email="alice@example.test")
    Provider.objects.create(user=user, display_name="Dr. Alice Smith", npi="1234567893", date_of_birth=ALICE_BORN)
    return join(user, practice)


def browser(idme_sandbox_live: IdmeSandboxHandle, user: User) -> Client:
    """A browser on the EHR's live host, signed in through the form (so recently authenticated)."""
    client = Client(HTTP_HOST=urlparse(idme_sandbox_live.live_url).netloc)
    assert login_through_form(client, user.username).status_code == 302
    return client


@pytest.fixture
def ehr(alice: User, idme_sandbox_live: IdmeSandboxHandle) -> Client:
    return browser(idme_sandbox_live, alice)


@pytest.fixture
def manager(make_user: Any, practice: Practice) -> User:
    user = make_user("manager.lee", first_name="Casey", last_name="Lee")
    return join(user, practice, PracticeRole.ACCESS_MANAGER)


def idme_account(live: IdmeSandboxHandle, fname: str, lname: str, **fields: Any) -> Account:
    return live.create_account(f"{lname.lower().strip()}@idme.example.test", fname=fname, lname=lname, **fields)


def verify(ehr: Client, live: IdmeSandboxHandle, account: Account) -> Any:
    """eRx Info > Verify with ID.me, Allow at ID.me as `account`, back to eRx Info."""
    started = ehr.post("/account/idme/verify/")
    assert started.status_code == 302
    location = urlparse(live.answer_consent(account, str(started["Location"])))
    assert location.path == "/account/idme/callback/"
    return ehr.get(f"{location.path}?{location.query}", follow=True)


def provider_of(user: User) -> Provider:
    return Provider.objects.get(user=user)


def assert_unconfirmed(user: User) -> None:
    provider = provider_of(user)
    assert (provider.idme_uuid, provider.identity_ial, provider.identity_verified_at) == ("", "", None)
    assert not provider.identity_confirmed


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def mismatch_of(user: User) -> IdentityMismatch:
    return IdentityMismatch.objects.get(provider__user=user)


def refuse_alicia(ehr: Client, live: IdmeSandboxHandle) -> tuple[Account, IdentityMismatch]:
    """Alice verifies with an ID.me identity under another name: refused and kept for review."""
    alicia = idme_account(live, "Alicia", "Smyth", birth_date=ALICE_BORN)
    verify(ehr, live, alicia)
    return alicia, IdentityMismatch.objects.get(idme_uuid=alicia.uuid)


# --- the callback ------------------------------------------------------------------------------
@pytest.mark.req("DEA-20")
@pytest.mark.req("DEA-02")
@pytest.mark.req("ASVS-07")
@pytest.mark.parametrize(
    ("fname", "lname"),
    [
        ("Alice", "Smith"),
        ("ALICE", "smith"),  # case
        ("  Alice ", "Smith\t"),  # surrounding whitespace
        ("Alíce", "Smíth"),  # accents folded
        ("\uff21lice", "\uff33mith"),  # full-width letters (NFKC)
    ],
)
def test_the_same_name_at_idme_confirms_the_identity(
    ehr: Client, alice: User, idme_sandbox_live: IdmeSandboxHandle, fname: str, lname: str
) -> None:
    account = idme_account(idme_sandbox_live, fname, lname, birth_date=ALICE_BORN)
    response = verify(ehr, idme_sandbox_live, account)
    assert "Your identity has now been confirmed" in response.content.decode()
    provider = provider_of(alice)
    assert provider.identity_confirmed and provider.idme_uuid == account.uuid
    [verified] = events("identity.verified")
    assert verified.details["birth_date_compared"] is True
    assert not IdentityMismatch.objects.exists()


@pytest.mark.req("DEA-20")
def test_names_are_compared_after_documented_normalisation() -> None:
    assert normalise_name("  ÉLODIE  ") == normalise_name("elodie")
    assert normalise_name("Mary-Jane") == normalise_name("mary  jane") == "mary jane"
    assert normalise_name("Garc\u0131a") == normalise_name("García")  # dotless i, accent
    assert normalise_name("O\u2019Brien") == normalise_name("O'Brien")
    assert normalise_name("Stra\u00dfe") == normalise_name("STRASSE")
    assert normalise_name("S\u00f8ren") == normalise_name("Soren")
    # Not fuzzy: a joined compound name, an initial or a nickname is a difference.
    assert normalise_name("MaryJane") != normalise_name("Mary Jane")
    assert normalise_name("A.") != normalise_name("Alice")
    assert normalise_name("Smyth") != normalise_name("Smith")


@pytest.mark.req("DEA-20")
@pytest.mark.req("DEA-13")
def test_another_persons_identity_is_refused_audited_and_kept_for_review(
    ehr: Client, alice: User, idme_sandbox_live: IdmeSandboxHandle
) -> None:
    alicia = idme_account(idme_sandbox_live, "Alicia", "Smyth", birth_date=ALICE_BORN)
    response = verify(ehr, idme_sandbox_live, alicia)
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == ERX_INFO
    assert "The name at ID.me (Alicia Smyth) does not match your EHR profile (Alice Smith)." in html
    assert "Your identity has now been confirmed" not in html
    assert "waiting for an EPCS access manager" in html  # the Identity Confirmation section
    assert_unconfirmed(alice)
    [failed] = events("identity.verify_failed")
    assert failed.outcome == "denied"
    assert failed.details["reason"] == "identity_mismatch"
    assert (failed.details["idme_name"], failed.details["ehr_name"]) == ("Alicia Smyth", "Alice Smith")
    assert failed.details["differences"] == ["first_name", "last_name"]
    assert not events("identity.verified")
    mismatch = mismatch_of(alice)
    assert mismatch.is_pending
    assert (mismatch.idme_uuid, mismatch.idme_fname, mismatch.idme_lname) == (alicia.uuid, "Alicia", "Smyth")
    assert (mismatch.idme_ial, mismatch.idme_birth_date, mismatch.idme_email) == (2, ALICE_BORN, alicia.email)
    assert (mismatch.ehr_first_name, mismatch.ehr_last_name) == ("Alice", "Smith")


@pytest.mark.req("DEA-20")
def test_a_different_birth_date_is_refused_when_both_are_known(
    ehr: Client, alice: User, idme_sandbox_live: IdmeSandboxHandle
) -> None:
    twin = idme_account(idme_sandbox_live, "Alice", "Smith", birth_date=dt.date(1980, 1, 1))
    html = verify(ehr, idme_sandbox_live, twin).content.decode()
    assert "The date of birth at ID.me does not match the one on your EHR profile." in html
    assert "The name at ID.me" not in html
    assert_unconfirmed(alice)
    [failed] = events("identity.verify_failed")
    assert failed.details["differences"] == ["birth_date"]
    assert "1980" not in str(failed.details)  # birth dates stay out of the audit trail
    assert mismatch_of(alice).differences == ["birth_date"]


@pytest.mark.req("DEA-20")
def test_birth_date_is_compared_only_when_both_sides_know_it(
    ehr: Client, alice: User, idme_sandbox_live: IdmeSandboxHandle
) -> None:
    Provider.objects.filter(user=alice).update(date_of_birth=None)
    account = idme_account(idme_sandbox_live, "Alice", "Smith", birth_date=dt.date(1980, 1, 1))
    verify(ehr, idme_sandbox_live, account)
    assert provider_of(alice).identity_confirmed
    [verified] = events("identity.verified")
    assert verified.details["birth_date_compared"] is False


@pytest.mark.req("DEA-20")
def test_a_provider_without_names_on_record_is_never_bound(
    ehr: Client, alice: User, idme_sandbox_live: IdmeSandboxHandle
) -> None:
    User.objects.filter(pk=alice.pk).update(first_name="", last_name="")
    nameless = idme_account(idme_sandbox_live, "", "")
    html = verify(ehr, idme_sandbox_live, nameless).content.decode()
    assert "The name at ID.me (no name) does not match your EHR profile (no name on record)." in html
    assert_unconfirmed(alice)


@pytest.mark.req("DEA-20")
def test_a_matching_verification_ends_the_pending_review(
    ehr: Client, alice: User, idme_sandbox_live: IdmeSandboxHandle
) -> None:
    _, mismatch = refuse_alicia(ehr, idme_sandbox_live)
    verify(ehr, idme_sandbox_live, idme_account(idme_sandbox_live, "Alice", "Smith"))
    assert provider_of(alice).identity_confirmed
    mismatch.refresh_from_db()
    assert mismatch.status == "superseded"


# --- the access manager's review ---------------------------------------------------------------
@pytest.mark.req("DEA-20")
@pytest.mark.req("DEA-02")
@pytest.mark.req("DEA-13")
def test_access_manager_confirms_a_legitimate_difference_with_a_reason(
    ehr: Client, alice: User, manager: User, idme_sandbox_live: IdmeSandboxHandle
) -> None:
    alicia, mismatch = refuse_alicia(ehr, idme_sandbox_live)
    reviewer = browser(idme_sandbox_live, manager)
    assert f'href="{REVIEWS}"' in reviewer.get("/account/epcs-permissions/").content.decode()
    page = reviewer.get(REVIEWS).content.decode()
    assert "Alicia Smyth" in page and "Alice Smith" in page and "Confirm identity" in page
    response = reviewer.post(
        f"{REVIEWS}{mismatch.pk}/confirm/", {"reason": "Smyth is her maiden name; marriage certificate seen"}
    )
    assert response.status_code == 302
    provider = provider_of(alice)
    assert provider.identity_confirmed
    assert (provider.idme_uuid, provider.identity_ial, provider.identity_aal) == (alicia.uuid, "ial2", "aal1")
    mismatch.refresh_from_db()
    assert (mismatch.status, mismatch.decided_by) == ("confirmed", manager)
    assert mismatch.decision_reason == "Smyth is her maiden name; marriage certificate seen"
    [confirmed] = events("identity.mismatch_confirmed")
    assert confirmed.actor == manager and confirmed.outcome == "success"
    assert confirmed.target_id == str(provider.pk)
    assert confirmed.details["reason"] == "Smyth is her maiden name; marriage certificate seen"
    assert (confirmed.details["idme_name"], confirmed.details["ehr_name"]) == ("Alicia Smyth", "Alice Smith")
    [verified] = events("identity.verified")
    assert verified.details["confirmed_by"] == "manager.lee"
    # The prescriber now reads the seed's confirmation on eRx Info.
    assert "Your identity has now been confirmed" in ehr.get(ERX_INFO).content.decode()


@pytest.mark.req("DEA-20")
def test_confirming_needs_a_reason(
    ehr: Client, alice: User, manager: User, idme_sandbox_live: IdmeSandboxHandle
) -> None:
    _, mismatch = refuse_alicia(ehr, idme_sandbox_live)
    reviewer = browser(idme_sandbox_live, manager)
    response = reviewer.post(f"{REVIEWS}{mismatch.pk}/confirm/", {"reason": "   "})
    assert response.status_code == 400
    assert "Give the reason the difference is legitimate" in response.content.decode()
    assert_unconfirmed(alice)
    mismatch.refresh_from_db()
    assert mismatch.is_pending
    assert not events("identity.mismatch_confirmed")


@pytest.mark.req("DEA-20")
@pytest.mark.req("DEA-13")
def test_a_prescriber_cannot_confirm_their_own_mismatch(
    ehr: Client, alice: User, idme_sandbox_live: IdmeSandboxHandle
) -> None:
    join(alice, Practice.objects.get(memberships__user=alice), PracticeRole.ACCESS_MANAGER)  # even an access manager
    _, mismatch = refuse_alicia(ehr, idme_sandbox_live)
    assert "another EPCS access manager must review it" in ehr.get(REVIEWS).content.decode()
    response = ehr.post(f"{REVIEWS}{mismatch.pk}/confirm/", {"reason": "It is really me"})
    assert response.status_code == 403
    assert "You cannot review your own identity" in response.content.decode()
    assert_unconfirmed(alice)
    mismatch.refresh_from_db()
    assert mismatch.is_pending
    [refused] = events("identity.mismatch_review_refused")
    assert (refused.actor, refused.outcome, refused.details["refusal"]) == (alice, "denied", "own_identity")


@pytest.mark.req("DEA-20")
@pytest.mark.req("DEA-13")
def test_someone_who_is_not_an_access_manager_cannot_review(
    ehr: Client, alice: User, make_user: Any, idme_sandbox_live: IdmeSandboxHandle
) -> None:
    _, mismatch = refuse_alicia(ehr, idme_sandbox_live)
    # A prescriber of the same practice: not an access manager.
    colleague = join(
        make_user("dr.jones", first_name="Brian", last_name="Jones"), mismatch.provider.user.memberships.get().practice
    )
    other = browser(idme_sandbox_live, colleague)
    assert other.get(REVIEWS).status_code == 403
    for decision in ("confirm", "reject"):
        response = other.post(f"{REVIEWS}{mismatch.pk}/{decision}/", {"reason": "Looks fine to me"})
        assert response.status_code == 403
        assert "Only an EPCS access manager" in response.content.decode()
    assert_unconfirmed(alice)
    mismatch.refresh_from_db()
    assert mismatch.is_pending
    refusals = events("identity.mismatch_review_refused")
    assert [(e.actor, e.details["decision"], e.details["refusal"]) for e in refusals] == [
        (colleague, "confirm", "not_access_manager"),
        (colleague, "reject", "not_access_manager"),
    ]


@pytest.mark.req("DEA-20")
@pytest.mark.req("DEA-13")
def test_access_manager_rejects_a_mismatch(
    ehr: Client, alice: User, manager: User, idme_sandbox_live: IdmeSandboxHandle
) -> None:
    _, mismatch = refuse_alicia(ehr, idme_sandbox_live)
    reviewer = browser(idme_sandbox_live, manager)
    response = reviewer.post(f"{REVIEWS}{mismatch.pk}/reject/", {"reason": "Not the same person"}, follow=True)
    assert "has been rejected" in response.content.decode()
    assert_unconfirmed(alice)
    mismatch.refresh_from_db()
    assert (mismatch.status, mismatch.decided_by, mismatch.decision_reason) == (
        "rejected",
        manager,
        "Not the same person",
    )
    [rejected] = events("identity.mismatch_rejected")
    assert rejected.actor == manager and rejected.details["idme_name"] == "Alicia Smyth"
    # A rejected mismatch cannot be confirmed afterwards.
    late = reviewer.post(f"{REVIEWS}{mismatch.pk}/confirm/", {"reason": "Changed my mind"})
    assert late.status_code == 400
    assert "no longer waiting for review" in late.content.decode()
    assert_unconfirmed(alice)


@pytest.mark.req("DEA-20")
def test_a_stale_or_changed_review_cannot_be_confirmed(
    ehr: Client, alice: User, manager: User, idme_sandbox_live: IdmeSandboxHandle
) -> None:
    _, mismatch = refuse_alicia(ehr, idme_sandbox_live)
    reviewer = browser(idme_sandbox_live, manager)
    # The practice admin renamed the profile after ID.me answered: the review no longer fits.
    User.objects.filter(pk=alice.pk).update(last_name="Smythe")
    response = reviewer.post(f"{REVIEWS}{mismatch.pk}/confirm/", {"reason": "Maiden name"})
    assert response.status_code == 400
    assert "changed after ID.me answered" in response.content.decode()
    User.objects.filter(pk=alice.pk).update(last_name="Smith")
    IdentityMismatch.objects.filter(pk=mismatch.pk).update(created_at=timezone.now() - dt.timedelta(days=31))
    response = reviewer.post(f"{REVIEWS}{mismatch.pk}/confirm/", {"reason": "Maiden name"})
    assert response.status_code == 400
    assert "more than 30 days old" in response.content.decode()
    assert_unconfirmed(alice)
    assert [e.details["refusal"] for e in events("identity.mismatch_review_refused")] == [
        "profile_changed",
        "expired",
    ]


@pytest.mark.req("DEA-20")
def test_confirming_keeps_one_idme_account_per_provider(
    ehr: Client, alice: User, manager: User, make_user: Any, idme_sandbox_live: IdmeSandboxHandle
) -> None:
    alicia, mismatch = refuse_alicia(ehr, idme_sandbox_live)
    # Meanwhile the same ID.me account was linked to the real Alicia Smyth's profile.
    smyth = make_user("dr.smyth", first_name="Alicia", last_name="Smyth")
    Provider.objects.create(user=smyth, display_name="Dr. Alicia Smyth", idme_uuid=alicia.uuid)
    reviewer = browser(idme_sandbox_live, manager)
    response = reviewer.post(f"{REVIEWS}{mismatch.pk}/confirm/", {"reason": "Maiden name"})
    assert response.status_code == 400
    assert "already linked to another provider" in response.content.decode()
    assert_unconfirmed(alice)
    [refused] = events("identity.mismatch_review_refused")
    assert refused.details["refusal"] == "uuid_linked_elsewhere"


@pytest.mark.req("DEA-20")
def test_confirming_asks_for_the_password_again_after_15_minutes(
    ehr: Client, alice: User, manager: User, idme_sandbox_live: IdmeSandboxHandle
) -> None:
    _, mismatch = refuse_alicia(ehr, idme_sandbox_live)
    reviewer = browser(idme_sandbox_live, manager)
    session = reviewer.session
    session[AUTHENTICATED_AT_KEY] = time.time() - 16 * 60  # the password was entered 16 minutes ago
    session.save()
    response = reviewer.post(f"{REVIEWS}{mismatch.pk}/confirm/", {"reason": "Maiden name"})
    assert response.status_code == 302 and response["Location"].startswith("/account/reauthenticate/")
    assert_unconfirmed(alice)
    assert mismatch_of(alice).is_pending


@pytest.mark.req("DEA-20")
def test_an_unknown_review_is_not_found(manager: User, idme_sandbox_live: IdmeSandboxHandle) -> None:
    reviewer = browser(idme_sandbox_live, manager)
    assert reviewer.post(f"{REVIEWS}999999/confirm/", {"reason": "x"}).status_code == 404


# --- the demo data -------------------------------------------------------------------------------
@pytest.mark.req("DEA-20")
def test_demo_idme_accounts_bind_to_their_demo_providers(idme_sandbox_live: IdmeSandboxHandle) -> None:
    from idme_sandbox.demo import seed_demo_accounts
    from providers.demo import DEMO_PASSWORD, seed_people

    seed_people()
    seed_demo_accounts()
    for username, email in (("dr.smith", "alice.smith@example.test"), ("dr.jones", "brian.jones@example.test")):
        client = Client(HTTP_HOST=urlparse(idme_sandbox_live.live_url).netloc)
        assert login_through_form(client, username, DEMO_PASSWORD).status_code == 302
        html = verify(client, idme_sandbox_live, Account.objects.get(email=email)).content.decode()
        assert "Your identity has now been confirmed" in html, username
    carter = Client(HTTP_HOST=urlparse(idme_sandbox_live.live_url).netloc)
    assert login_through_form(carter, "dr.carter", DEMO_PASSWORD).status_code == 302
    html = verify(carter, idme_sandbox_live, Account.objects.get(email="alicia.smyth@example.test")).content.decode()
    assert "The name at ID.me (Alicia Smyth) does not match your EHR profile (Alicia Carter)." in html
    assert IdentityMismatch.objects.get(provider__user__username="dr.carter").differences == ["last_name"]
    assert [e.details["birth_date_compared"] for e in events("identity.verified")] == [True, True]


@pytest.mark.req("DEA-20")
def test_the_admin_cannot_change_the_name_or_birth_date_a_confirmed_identity_was_matched_against(
    admin_client: Client,
) -> None:
    user = User.objects.create_user("dr.bound", password="Correct-Horse-42", first_name="Alice", last_name="Smith")
    provider = Provider.objects.create(
        user=user, display_name="Dr. Alice Smith", npi="1234567893", date_of_birth=dt.date(1975, 3, 14)
    )
    Provider.objects.filter(pk=provider.pk).update(identity_verified_at=timezone.now(), identity_ial=2)
    user_page = admin_client.get(f"/admin/providers/user/{user.pk}/change/").content.decode()
    assert 'name="last_name"' not in user_page and "Smith" in user_page
    provider_page = admin_client.get(f"/admin/providers/provider/{provider.pk}/change/").content.decode()
    assert 'name="date_of_birth"' not in provider_page
    # Before confirmation the admin keeps them editable.
    Provider.objects.filter(pk=provider.pk).update(identity_verified_at=None)
    assert 'name="last_name"' in admin_client.get(f"/admin/providers/user/{user.pk}/change/").content.decode()
