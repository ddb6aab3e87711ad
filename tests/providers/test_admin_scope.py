"""Django admin scoped to practices (ASVS-11; docs/architecture.md "Practices"): a practice admin
sees and changes only their practices' rows and people; superusers see all and are audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import timezone

import audit
from audit.models import AuditCheckpoint, AuditEvent, CheckpointReason, IncidentReport
from eprescribe.models import Medication, Patient, Pharmacy, Prescription, SigningCeremony
from mfa.models import DeviceKind, DeviceSyncState, ProviderDevice
from providers.admin_scope import AdminAuditAction, PracticeScopedAdmin
from providers.models import (
    DeaRegistration,
    EpcsAccessNotice,
    EpcsPermission,
    EpcsPermissionRequest,
    EpcsRequestAction,
    IdentityMismatch,
    Membership,
    Practice,
    PracticeRole,
    Provider,
    StateLicense,
    User,
)
from tests.conftest import TEST_PASSWORD, join

pytestmark = pytest.mark.django_db


@dataclass
class PracticeRows:
    """One of everything a practice owns, and its people."""

    practice: Practice
    prescriber: User
    rows: dict[type[models.Model], models.Model]


def _rows_of(practice: Practice, tag: str, make_user: Callable[..., User]) -> PracticeRows:
    user = join(make_user(f"dr.{tag}", first_name="Dana", last_name=tag.title()), practice, PracticeRole.PRESCRIBER)
    provider = Provider.objects.create(user=user, display_name=f"Dr. Dana {tag.title()}")
    patient = Patient.objects.create(
        practice=practice,
        first_name="Pat",
        last_name=f"Patient{tag.title()}",
        date_of_birth=dt.date(1970, 1, 1),
        address_line1="1 Main Street",
        city="Princeton",
        state="NJ",
        postal_code="08540",
    )
    pharmacy, _ = Pharmacy.objects.get_or_create(
        ncpdp_id="1234567",
        defaults={
            "name": "Main Street Pharmacy",
            "address_line1": "10 Main Street",
            "city": "Princeton",
            "state": "NJ",
            "postal_code": "08540",
            "phone": "609-555-0100",
        },
    )
    medication, _ = Medication.objects.get_or_create(
        name="Amoxicillin", strength="500 mg", dosage_form="capsule", dea_schedule=""
    )
    prescription = Prescription.objects.create(
        practice=practice,
        patient=patient,
        prescriber=provider,
        medication=medication,
        quantity=30,
        directions="One capsule three times a day",
        pharmacy=pharmacy,
        written_date=dt.date.today(),
        created_by=user,
    )
    ceremony = SigningCeremony.objects.create(
        provider=provider,
        practice=practice,
        prescriber_name=provider.display_name,
        signer_sha256="a" * 64,
        statement_sha256="b" * 64,
        binding_sha256=tag[0] * 64,
    )
    event = audit.record("test.event", actor=user, chain=practice)
    checkpoint = AuditCheckpoint.objects.create(
        chain_id=practice.pk,
        position=0,
        head_hash="0" * 64,
        signed_at=timezone.now(),
        key_id="test",
        signature="not-checked-here",
        reason=CheckpointReason.SEQUENCER,
    )
    report = IncidentReport.objects.create(
        chain_id=practice.pk,
        day=dt.date(2026, 4, 1),
        generated_at=timezone.now(),
        event_count=1,
        security_event_count=0,
        chain_intact=True,
    )
    future = dt.date.today() + dt.timedelta(days=365)
    rows: dict[type[models.Model], models.Model] = {
        Patient: patient,
        Prescription: prescription,
        SigningCeremony: ceremony,
        EpcsPermission: EpcsPermission.objects.create(provider=provider, practice=practice),
        EpcsPermissionRequest: EpcsPermissionRequest.objects.create(
            provider=provider, practice=practice, action=EpcsRequestAction.GRANT, entered_by=user
        ),
        EpcsAccessNotice: EpcsAccessNotice.objects.create(provider=provider, practice=practice, message="Notice"),
        Membership: Membership.objects.get(user=user, practice=practice),
        User: user,
        Provider: provider,
        ProviderDevice: ProviderDevice.objects.create(
            provider=provider, idme_device_id=f"device-{tag}", kind=DeviceKind.TOTP, added_at=timezone.now()
        ),
        DeviceSyncState: DeviceSyncState.objects.create(provider=provider),
        DeaRegistration: DeaRegistration.objects.create(
            provider=provider, number="AH1234563" if tag == "alpha" else "BB1234563", state="NJ", expires_on=future
        ),
        StateLicense: StateLicense.objects.create(
            provider=provider, state="NJ", number=f"25MA{tag}", expires_on=future
        ),
        IdentityMismatch: IdentityMismatch.objects.create(
            provider=provider, idme_uuid=f"uuid-{tag}", idme_ial=2, idme_aal=2
        ),
        Practice: practice,
        AuditEvent: event,
        AuditCheckpoint: checkpoint,
        IncidentReport: report,
    }
    return PracticeRows(practice, user, rows)


@pytest.fixture
def world(
    make_user: Callable[..., User], practice: Practice, other_practice: Practice
) -> tuple[PracticeRows, PracticeRows]:
    return _rows_of(practice, "alpha", make_user), _rows_of(other_practice, "beta", make_user)


@pytest.fixture
def practice_admin(make_user: Callable[..., User], practice: Practice) -> User:
    """A practice admin of the first practice, without Django's staff flag."""
    return join(make_user("pa.alpha"), practice, PracticeRole.PRACTICE_ADMIN)


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _changelist(model: type[models.Model]) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def _change(model: type[models.Model], pk: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[pk])


SCOPED_MODELS = [
    Patient,
    Prescription,
    SigningCeremony,
    EpcsPermission,
    EpcsPermissionRequest,
    EpcsAccessNotice,
    Membership,
    User,
    Provider,
    ProviderDevice,
    DeviceSyncState,
    DeaRegistration,
    StateLicense,
    IdentityMismatch,
    Practice,
    AuditEvent,
    AuditCheckpoint,
    IncidentReport,
]


def test_every_admin_of_a_practice_owned_model_is_scoped() -> None:
    """A model with a practice (or an audit chain) has no admin that escapes the scoping."""
    for model, model_admin in admin.site._registry.items():
        names = {field.name for field in model._meta.get_fields()}
        if "practice" in names or "chain_id" in names or model in SCOPED_MODELS:
            assert isinstance(model_admin, PracticeScopedAdmin), model


@pytest.mark.req("ASVS-11")
def test_a_practice_admin_signs_in_to_the_admin_without_the_staff_flag(practice_admin: User) -> None:
    assert not practice_admin.is_staff
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": practice_admin.username, "password": TEST_PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
    index = client.get("/admin/")
    assert index.status_code == 200
    shown = {entry["object_name"] for app in index.context["app_list"] for entry in app["models"]}
    assert {"Patient", "Membership", "AuditEvent", "IncidentReport"} <= shown
    # Deployment-wide tables are not a practice admin's.
    assert "Pharmacy" not in shown and "Group" not in shown


@pytest.mark.req("ASVS-11")
def test_people_without_an_admin_role_stay_out_of_the_admin(clinician: User) -> None:
    client = Client()
    response = client.post("/admin/login/", {"username": clinician.username, "password": TEST_PASSWORD})
    assert response.status_code == 200 and not response.wsgi_request.user.is_authenticated
    client.force_login(clinician)
    assert client.get("/admin/").status_code == 302  # to the admin's sign-in


@pytest.mark.req("ASVS-11")
@pytest.mark.parametrize("model", SCOPED_MODELS, ids=lambda model: model.__name__)
def test_a_practice_admin_lists_only_their_practices_rows(
    model: type[models.Model], world: tuple[PracticeRows, PracticeRows], practice_admin: User
) -> None:
    own, other = world
    response = _client(practice_admin).get(_changelist(model))
    assert response.status_code == 200
    shown = {row.pk for row in response.context["cl"].result_list}
    assert own.rows[model].pk in shown
    assert other.rows[model].pk not in shown
    assert other.practice.name not in response.content.decode()  # not even in a filter


@pytest.mark.req("ASVS-11")
@pytest.mark.parametrize("model", SCOPED_MODELS, ids=lambda model: model.__name__)
def test_another_practices_row_is_not_found_in_the_admin(
    model: type[models.Model], world: tuple[PracticeRows, PracticeRows], practice_admin: User
) -> None:
    own, other = world
    client = _client(practice_admin)
    assert client.get(_change(model, own.rows[model].pk)).status_code == 200
    assert client.get(_change(model, other.rows[model].pk)).status_code == 404
    history = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_history", args=[other.rows[model].pk])
    assert client.get(history).status_code == 404


@pytest.mark.req("ASVS-11")
def test_a_person_of_both_practices_is_listed_once_for_each_practices_admin(
    world: tuple[PracticeRows, PracticeRows], practice_admin: User
) -> None:
    own, other = world
    join(other.prescriber, own.practice, PracticeRole.AGENT, PracticeRole.AUDITOR)
    response = _client(practice_admin).get(_changelist(User))
    shown = [row.pk for row in response.context["cl"].result_list]
    assert shown.count(other.prescriber.pk) == 1
    assert _client(practice_admin).get(_change(Provider, other.rows[Provider].pk)).status_code == 200
    # Their membership in the other practice stays out of sight.
    memberships = _client(practice_admin).get(_changelist(Membership)).context["cl"].result_list
    assert {m.practice_id for m in memberships} == {own.practice.pk}


@pytest.mark.req("ASVS-11")
def test_foreign_key_choices_offer_only_the_admins_practices_and_people(
    world: tuple[PracticeRows, PracticeRows], practice_admin: User
) -> None:
    own, other = world
    response = _client(practice_admin).get(reverse("admin:providers_membership_add"))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert list(form.fields["practice"].queryset) == [own.practice]
    people = set(form.fields["user"].queryset)
    assert own.prescriber in people and practice_admin in people
    assert other.prescriber not in people


@pytest.mark.req("ASVS-11")
def test_a_practice_admin_cannot_make_anyone_a_member_of_another_practice(
    world: tuple[PracticeRows, PracticeRows], practice_admin: User
) -> None:
    own, other = world
    client = _client(practice_admin)
    before = Membership.objects.count()
    for user, practice in ((own.prescriber, other.practice), (other.prescriber, own.practice)):
        response = client.post(
            reverse("admin:providers_membership_add"),
            {"user": user.pk, "practice": practice.pk, "role": PracticeRole.ACCESS_MANAGER},
        )
        assert response.status_code == 200  # the form again, with its error
        assert response.context["adminform"].form.errors
        assert Membership.objects.count() == before
    # Nor move one of theirs there, nor remove one of the other practice's.
    own_membership = own.rows[Membership]
    response = client.post(
        _change(Membership, own_membership.pk),
        {"user": own.prescriber.pk, "practice": other.practice.pk, "role": PracticeRole.PRESCRIBER},
    )
    assert response.status_code == 302  # saved, but a row's practice is read-only once it exists
    other_membership = other.rows[Membership]
    delete = reverse("admin:providers_membership_delete", args=[other_membership.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 404
    assert Membership.objects.filter(pk=other_membership.pk).exists()
    assert Membership.objects.get(pk=own_membership.pk).practice_id == own.practice.pk


@pytest.mark.req("ASVS-11")
@pytest.mark.req("DEA-13")
def test_a_practice_admin_grants_a_role_in_their_practice_and_it_is_audited(
    world: tuple[PracticeRows, PracticeRows], practice_admin: User
) -> None:
    own, _other = world
    response = _client(practice_admin).post(
        reverse("admin:providers_membership_add"),
        {"user": own.prescriber.pk, "practice": own.practice.pk, "role": PracticeRole.ACCESS_MANAGER},
    )
    assert response.status_code == 302
    granted = Membership.objects.get(user=own.prescriber, practice=own.practice, role=PracticeRole.ACCESS_MANAGER)
    event = AuditEvent.objects.get(action=AdminAuditAction.OBJECT_ADDED)
    assert (event.chain_id, event.actor_id, event.target_id) == (own.practice.pk, practice_admin.pk, str(granted.pk))


@pytest.mark.req("ASVS-11")
def test_read_only_admins_stay_read_only_for_practice_admins(
    world: tuple[PracticeRows, PracticeRows], practice_admin: User
) -> None:
    own, _other = world
    client = _client(practice_admin)
    patient = own.rows[Patient]
    response = client.post(_change(Patient, patient.pk), {"first_name": "Changed"})
    assert response.status_code == 403
    assert client.get(reverse("admin:eprescribe_patient_add")).status_code == 403
    assert client.get(reverse("admin:providers_practice_add")).status_code == 403
    assert Patient.objects.get(pk=patient.pk).first_name == "Pat"


@pytest.mark.req("ASVS-11")
def test_staff_with_model_permissions_but_no_practice_sees_no_rows(
    world: tuple[PracticeRows, PracticeRows], make_user: Callable[..., User]
) -> None:
    from django.contrib.auth.models import Permission

    staff = make_user("staff.only", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_patient"))
    response = _client(staff).get(_changelist(Patient))
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


@pytest.mark.req("ASVS-11")
@pytest.mark.req("DEA-13")
@pytest.mark.req("ASVS-09")
def test_a_superuser_sees_every_practice_and_each_look_is_audited(
    world: tuple[PracticeRows, PracticeRows], make_user: Callable[..., User]
) -> None:
    own, other = world
    root = make_user("root", is_staff=True, is_superuser=True)
    client = _client(root)
    response = client.get(_changelist(Patient))
    shown = {row.pk for row in response.context["cl"].result_list}
    assert {own.rows[Patient].pk, other.rows[Patient].pk} <= shown
    listed = AuditEvent.objects.get(action=AdminAuditAction.LIST_VIEWED)
    assert listed.chain_id is None and listed.actor_id == root.pk
    assert listed.details["model"] == "eprescribe.patient"
    assert listed.details["practice_ids"] == sorted([own.practice.pk, other.practice.pk])

    assert client.get(_change(Patient, other.rows[Patient].pk)).status_code == 200
    viewed = AuditEvent.objects.get(action=AdminAuditAction.OBJECT_VIEWED)
    assert viewed.chain_id == other.practice.pk
    assert viewed.target_id == str(other.rows[Patient].pk)

    # A person of two practices: the look is in both practices' chains.
    join(other.prescriber, own.practice)
    assert client.get(_change(User, other.prescriber.pk)).status_code == 200
    chains = set(
        AuditEvent.objects.filter(
            action=AdminAuditAction.OBJECT_VIEWED, target_id=str(other.prescriber.pk), target_type="providers.user"
        ).values_list("chain_id", flat=True)
    )
    assert chains == {own.practice.pk, other.practice.pk}


@pytest.mark.req("ASVS-11")
def test_a_practice_admins_own_looks_are_not_audited_as_superuser_looks(
    world: tuple[PracticeRows, PracticeRows], practice_admin: User
) -> None:
    own, _other = world
    client = _client(practice_admin)
    client.get(_changelist(Patient))
    client.get(_change(Patient, own.rows[Patient].pk))
    assert not AuditEvent.objects.filter(
        action__in=[AdminAuditAction.LIST_VIEWED, AdminAuditAction.OBJECT_VIEWED]
    ).exists()
