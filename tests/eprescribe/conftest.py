"""Prescribing test data for tests/eprescribe (the ceremony's tests use ceremony_world.py).

`rx` builds a prescriber who may sign EPCS (IAL2 identity, a current DEA registration
verified against the DEA registry (tests/registry_fixtures.py),
granted EPCS permission), patients, pharmacies and medications; prescriptions are made
through eprescribe.services like the product does.

`rx.approved_challenge()` stands for a completed 2FA: an approved "epcs_sign" challenge row,
the proof `sign_prescriptions` checks. The real 2FA round trip (ID.me code or push) is
exercised end to end by tests/eprescribe/test_ceremony*.py and by the worker test in
test_transmission.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone

from eprescribe import services
from eprescribe.models import Medication, Patient, Pharmacy, Prescription
from mfa.models import ChallengeMethod, ChallengeStatus, VerificationChallenge
from providers.models import (
    DeaRegistration,
    EpcsPermission,
    EpcsPermissionState,
    IdentityAssurance,
    Practice,
    PracticeRole,
    Provider,
    User,
)
from tests.conftest import TEST_PASSWORD, join
from tests.registry_fixtures import verified_registration


def grant_epcs(provider: Provider, practice: Practice, registration: DeaRegistration | None = None) -> EpcsPermission:
    """A granted EPCS permission of `provider` in `practice` (optionally naming the registration)."""
    return EpcsPermission.objects.create(
        provider=provider,
        practice=practice,
        registration=registration,
        state=EpcsPermissionState.GRANTED,
        granted_at=timezone.now(),
        requested_at=timezone.now(),
    )


def make_signer(user: User, dea_number: str, practice: Practice) -> tuple[Provider, DeaRegistration]:
    """`user` becomes a prescriber of `practice` who may sign EPCS there."""
    join(user, practice, PracticeRole.PRESCRIBER)
    provider = Provider.objects.get(user=user)
    provider.address_line1 = "1 Princeton Plaza"
    provider.city = "Princeton"
    provider.state = "NJ"
    provider.postal_code = "08540"
    provider.identity_ial = IdentityAssurance.IAL2
    provider.identity_verified_at = timezone.now()
    provider.save()
    registration = verified_registration(
        DeaRegistration.objects.create(
            provider=provider, number=dea_number, state="NJ", expires_on=timezone.localdate() + dt.timedelta(days=365)
        )
    )
    grant_epcs(provider, practice)
    return provider, registration


@dataclass
class RxWorld:
    user: User
    practice: Practice
    provider: Provider
    registration: DeaRegistration
    patient: Patient
    other_patient: Patient
    pharmacy: Pharmacy
    non_epcs_pharmacy: Pharmacy
    oxycodone: Medication  # C-II
    buprenorphine: Medication  # C-III
    alprazolam: Medication  # C-IV
    pregabalin: Medication  # C-V
    amoxicillin: Medication  # not controlled

    def fields(self, **overrides: Any) -> dict[str, Any]:
        values: dict[str, Any] = {
            "patient": self.patient,
            "medication": self.oxycodone,
            "dea_registration": self.registration,
            "quantity": 20,
            "quantity_unit": "tablets",
            "directions": "Take 1 tablet by mouth every 6 hours as needed for pain",
            "refills": 0,
            "earliest_fill_date": timezone.localdate() + dt.timedelta(days=2),
            "pharmacy": self.pharmacy,
        }
        values.update(overrides)
        return values

    def draft(self, actor: User | None = None, **overrides: Any) -> Prescription:
        return services.create_prescription(
            actor=actor or self.user, prescriber=self.provider, practice=self.practice, fields=self.fields(**overrides)
        )

    def ready(self, **overrides: Any) -> Prescription:
        return services.mark_ready(self.draft(**overrides), self.user, practice=self.practice)

    def approved_challenge(self, provider: Provider | None = None) -> VerificationChallenge:
        now = timezone.now()
        return VerificationChallenge.objects.create(
            provider=provider or self.provider,
            device_label="Office iPhone (Generate 2FA Key)",
            idme_device_id="test-device",
            purpose=services.SIGN_PURPOSE,
            subject=f"ceremony:test-{now.timestamp()}",
            method=ChallengeMethod.CODE,
            status=ChallengeStatus.APPROVED,
            expires_at=now + dt.timedelta(minutes=5),
            completed_at=now,
        )

    def sign(self, *prescriptions: Prescription) -> list[Prescription]:
        challenge = self.approved_challenge()
        return services.sign_prescriptions(
            provider=self.provider,
            practice=self.practice,
            prescriptions=list(prescriptions),
            device_label=challenge.device_label,
            challenge_id=str(challenge.pk),
        )


def make_patient(practice: Practice, first: str, last: str, born: dt.date, line1: str, postal: str) -> Patient:
    return Patient.objects.create(
        practice=practice,
        first_name=first,
        last_name=last,
        date_of_birth=born,
        address_line1=line1,
        city="Trenton",
        state="NJ",
        postal_code=postal,
    )


@pytest.fixture
def rx(clinician: User, practice: Practice, settings: Any, tmp_path: Any) -> RxWorld:
    settings.EPCS_SIGNING_KEY = ""
    settings.EPCS_SIGNING_KEY_FILE = tmp_path / "keys" / "epcs-signing-key.pem"
    provider, registration = make_signer(clinician, "AH1234563", practice)

    def medication(name: str, strength: str, form: str, schedule: str) -> Medication:
        return Medication.objects.create(name=name, strength=strength, dosage_form=form, dea_schedule=schedule)

    return RxWorld(
        user=clinician,
        practice=practice,
        provider=provider,
        registration=registration,
        patient=make_patient(practice, "Pat", "Doe", dt.date(1970, 5, 17), "22 Elm Street", "08608"),
        other_patient=make_patient(practice, "Sam", "Roe", dt.date(1985, 1, 2), "3 Oak Avenue", "08609"),
        pharmacy=Pharmacy.objects.create(
            ncpdp_id="1234567",
            name="Main Street Pharmacy",
            address_line1="10 Main Street",
            city="Princeton",
            state="NJ",
            postal_code="08540",
            phone="609-555-0100",
            accepts_epcs=True,
        ),
        non_epcs_pharmacy=Pharmacy.objects.create(
            ncpdp_id="7654321",
            name="Paper Only Drugs",
            address_line1="5 Side Street",
            city="Princeton",
            state="NJ",
            postal_code="08540",
            phone="609-555-0199",
            accepts_epcs=False,
        ),
        oxycodone=medication("Oxycodone Hydrochloride", "5 mg", "tablet", "2"),
        buprenorphine=medication("Buprenorphine", "8 mg", "sublingual tablet", "3"),
        alprazolam=medication("Alprazolam", "0.5 mg", "tablet", "4"),
        pregabalin=medication("Pregabalin", "75 mg", "capsule", "5"),
        amoxicillin=medication("Amoxicillin", "500 mg", "capsule", ""),
    )


@pytest.fixture
def make_person(make_user: Callable[..., User], practice: Practice) -> Callable[..., User]:
    """Another user of `practice`; `provider=True` (the default) gives them a provider profile
    and makes them a prescriber there, `roles` names other roles, `practice=None` none."""

    def make(
        username: str,
        *,
        provider: bool = True,
        roles: tuple[PracticeRole, ...] = (),
        in_practice: Practice | None = practice,
        **fields: Any,
    ) -> User:
        user = make_user(username, **fields)
        if provider:
            Provider.objects.create(user=user, display_name=f"Dr. {fields.get('last_name', username)}")
        if in_practice is not None and (provider or roles):
            join(user, in_practice, *(roles or (PracticeRole.PRESCRIBER,)))
        return user

    return make


@pytest.fixture
def staff_user(make_person: Callable[..., User]) -> User:
    """An agent of the practice: prepares prescriptions for its prescribers (DEA-05)."""
    return make_person(
        "nurse.ratched", provider=False, roles=(PracticeRole.AGENT,), first_name="Mildred", last_name="Ratched"
    )


def client_for(user: User) -> Client:
    client = Client()
    assert client.login(username=user.username, password=TEST_PASSWORD)
    return client


@contextmanager
def behind_the_triggers() -> Iterator[None]:
    """An attacker with rights over the schema: the prescription lock triggers are off inside
    (PostgreSQL: disabled; SQLite: dropped and put back exactly as they were)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # ALTER TABLE needs the deferred foreign-key checks of this transaction done first.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE eprescribe_prescription DISABLE TRIGGER eprescribe_prescription_signed_lock")
            saved: list[tuple[str, str]] = []
        else:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'eprescribe_prescription'"
            )
            saved = list(cursor.fetchall())
            assert saved, "the SQLite lock triggers are missing"
            for name, _sql in saved:
                cursor.execute(f'DROP TRIGGER "{name}"')
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("ALTER TABLE eprescribe_prescription ENABLE TRIGGER eprescribe_prescription_signed_lock")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            for _name, sql in saved:
                cursor.execute(sql)


def raw_update(sql: str, params: list[Any]) -> bool:
    """Run a statement behind the application's back; False when the database refuses it."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError:
        return False
    return True
