"""A prescriber ready to sign EPCS: linked ID.me devices (tests/mfa/challenge_world.py), a
current DEA registration verified against the DEA registry (tests/registry_fixtures.py),
granted EPCS permission, and READY controlled prescriptions made
through eprescribe.services for two patients."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.test import Client
from django.utils import timezone

from eprescribe import services as rx_services
from eprescribe.models import Medication, Patient, Pharmacy, Prescription
from providers.models import DeaRegistration, EpcsPermission, EpcsPermissionState, Practice, PracticeRole, User
from tests.conftest import join
from tests.idme_fixtures import IdmeSandboxHandle
from tests.mfa.challenge_world import SigningWorld, make_signing_world
from tests.registry_fixtures import verified_registration


@dataclass
class PrescribingWorld:
    signing: SigningWorld
    practice: Practice
    registration: DeaRegistration
    pharmacy: Pharmacy
    oxycodone: Medication
    alprazolam: Medication
    patient: Patient
    other_patient: Patient

    @property
    def provider(self) -> Any:
        return self.signing.provider

    @property
    def user(self) -> User:
        return self.signing.user

    def ready(
        self, patient: Patient | None = None, medication: Medication | None = None, quantity: int = 20
    ) -> Prescription:
        rx = rx_services.create_prescription(
            actor=self.user,
            prescriber=self.provider,
            practice=self.practice,
            fields={
                "patient": patient or self.patient,
                "dea_registration": self.registration,
                "medication": medication or self.oxycodone,
                "quantity": quantity,
                "quantity_unit": "tablets",
                "directions": "Take 1 tablet by mouth every 6 hours as needed for pain",
                "refills": 0,
                "pharmacy": self.pharmacy,
            },
        )
        return rx_services.mark_ready(rx, self.user, practice=self.practice)


def practice_of(user: User) -> Practice:
    """The practice a test person works in: their only one (the `clinician` fixture's), else a
    practice made for them."""
    practices = list(Practice.objects.filter(memberships__user=user).distinct())
    if len(practices) == 1:
        return practices[0]
    return Practice.objects.get_or_create(name="Princeton Plainsboro Teaching Hospital")[0]


def make_prescribing_world(
    sandbox: IdmeSandboxHandle,
    user: User,
    *,
    primary: str = "totp",
    email: str = "house@example.test",
    practice: Practice | None = None,
) -> PrescribingWorld:
    """`user` signs EPCS in `practice` (by default the one they work in, see practice_of)."""
    practice = practice or practice_of(user)
    join(user, practice, PracticeRole.PRESCRIBER)
    signing = make_signing_world(sandbox, user, primary=primary, email=email)
    provider = signing.provider
    registration = verified_registration(
        DeaRegistration.objects.create(
            provider=provider,
            number=f"A{(user.last_name or 'X')[0].upper()}1234563",
            state="NJ",
            expires_on=timezone.localdate() + dt.timedelta(days=365),
        )
    )
    EpcsPermission.objects.create(
        provider=provider,
        practice=practice,
        state=EpcsPermissionState.GRANTED,
        granted_at=timezone.now(),
        requested_at=timezone.now(),
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
            "accepts_epcs": True,
        },
    )
    oxycodone, _ = Medication.objects.get_or_create(
        name="Oxycodone", strength="5 mg", dosage_form="tablet", defaults={"dea_schedule": "2"}
    )
    alprazolam, _ = Medication.objects.get_or_create(
        name="Alprazolam", strength="0.5 mg", dosage_form="tablet", defaults={"dea_schedule": "4"}
    )
    patient = Patient.objects.create(
        practice=practice,
        first_name="Pat",
        last_name="Doe",
        date_of_birth=dt.date(1970, 5, 17),
        address_line1="22 Elm Street",
        city="Trenton",
        state="NJ",
        postal_code="08608",
    )
    other_patient = Patient.objects.create(
        practice=practice,
        first_name="Sam",
        last_name="Roe",
        date_of_birth=dt.date(1985, 1, 2),
        address_line1="3 Oak Avenue",
        city="Trenton",
        state="NJ",
        postal_code="08609",
    )
    return PrescribingWorld(
        signing=signing,
        practice=practice,
        registration=registration,
        pharmacy=pharmacy,
        oxycodone=oxycodone,
        alprazolam=alprazolam,
        patient=patient,
        other_patient=other_patient,
    )


def open_ceremony(client: Client, *prescriptions: Prescription) -> str:
    """'Sign selected' on the list: returns the ceremony page's path."""
    response = client.post("/eprescribe/sign/", {"prescription": [str(rx.pk) for rx in prescriptions]})
    assert response.status_code == 302, response.content.decode()[:2000]
    return str(response["Location"])
