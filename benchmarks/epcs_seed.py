"""Benchmark data shared by the scripts that sign: one prescriber ready for EPCS in a practice
of their own, and READY C-II prescriptions for them. Import after django.setup()."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import timezone


@dataclass
class EpcsPrescriber:
    practice: Any
    user: Any
    provider: Any
    device: Any
    registration: Any
    patient: Any


def epcs_prescriber(index: int, *, idme_uuid: str, device_id: str, device_added_at: dt.datetime) -> EpcsPrescriber:
    """Practice, user (prescriber membership), IAL2 provider, the mirror of a paired push
    phone (primary), a DEA registration recorded as verified, EPCS permission and a patient."""
    from eprescribe.models import Patient
    from mfa.models import DeviceKind, ProviderDevice
    from providers.models import (
        DeaRegistration,
        EpcsPermission,
        EpcsPermissionState,
        IdentityAssurance,
        Membership,
        Practice,
        PracticeRole,
        Provider,
        User,
    )

    # One practice per prescriber: each signs in their own practice (and audit chain).
    practice = Practice.objects.create(name=f"Bench Practice {index}", city="Princeton", state="NJ")
    user = User.objects.create_user(f"bench{index}", password=None, last_name="Doctor")
    Membership.objects.create(user=user, practice=practice, role=PracticeRole.PRESCRIBER)
    provider = Provider.objects.create(
        user=user,
        display_name=f"Dr. Bench {index}",
        idme_uuid=idme_uuid,
        identity_ial=IdentityAssurance.IAL2,
        identity_verified_at=timezone.now(),
        address_line1="1 Main Street",
        city="Princeton",
        state="NJ",
        postal_code="08540",
    )
    # The mirror as the EHR's device sync would write it.
    device = ProviderDevice.objects.create(
        provider=provider,
        idme_device_id=device_id,
        name="Phone",
        kind=DeviceKind.PUSH,
        added_at=device_added_at,
        is_primary=True,
    )
    registration = DeaRegistration.objects.create(
        provider=provider,
        number=f"AD{1000000 + index:07d}"[:9],
        state="NJ",
        expires_on=timezone.localdate() + dt.timedelta(days=365),
        # Benchmark data: recorded as verified against the DEA registry (DEA-20) without asking it.
        verified_at=timezone.now(),
    )
    registration.verified_fingerprint = registration.verification_fingerprint()
    registration.save(update_fields=["verified_fingerprint"])
    EpcsPermission.objects.create(
        provider=provider, practice=practice, state=EpcsPermissionState.GRANTED, granted_at=timezone.now()
    )
    patient = Patient.objects.create(
        practice=practice,
        first_name="Pat",
        last_name=f"Doe{index}",
        date_of_birth=dt.date(1970, 1, 1),
        address_line1="2 Elm Street",
        city="Trenton",
        state="NJ",
        postal_code="08608",
    )
    return EpcsPrescriber(practice, user, provider, device, registration, patient)


def pharmacy_and_medication() -> tuple[Any, Any]:
    """The pharmacy (accepting EPCS) and the C-II medication every benchmark prescribes."""
    from eprescribe.models import Medication, Pharmacy

    pharmacy = Pharmacy.objects.create(
        ncpdp_id="1234567",
        name="Bench Pharmacy",
        address_line1="10 Main Street",
        city="Princeton",
        state="NJ",
        postal_code="08540",
        phone="609-555-0100",
        accepts_epcs=True,
    )
    medication = Medication.objects.create(name="Oxycodone", strength="5 mg", dosage_form="tablet", dea_schedule="2")
    return pharmacy, medication


def ready_prescriptions(who: EpcsPrescriber, count: int, *, medication: Any, pharmacy: Any) -> list[Any]:
    """`count` READY prescriptions of `medication` to `pharmacy`, as the pages leave them."""
    from eprescribe import services

    return [
        services.mark_ready(
            services.create_prescription(
                actor=who.user,
                prescriber=who.provider,
                practice=who.practice,
                fields={
                    "patient": who.patient,
                    "dea_registration": who.registration,
                    "medication": medication,
                    "quantity": 10 + n,
                    "directions": "Take 1 tablet every 6 hours as needed",
                    "refills": 0,
                    "pharmacy": pharmacy,
                },
            ),
            who.user,
            practice=who.practice,
        )
        for n in range(count)
    ]
