"""Demo e-prescribing data per practice: patients, pharmacies, medications and READY
prescriptions, so the signing ceremony can be tried at once. Idempotent.

EHR Demo Practice: its three patients and dr.smith's ready controlled prescriptions. Riverside
Family Medicine: its own two patients and prescriptions that nurse.kim (agent) prepared for
dr.patel and dr.jones. Pharmacies and medications are deployment-wide reference tables.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from eprescribe import services
from eprescribe.models import Medication, Patient, Pharmacy, Prescription
from providers import erx_cache
from providers.credentials.rules import registrations_that_count
from providers.models import DeaRegistration, Practice, Provider, User

DEMO = DEMO_PRACTICE = "EHR Demo Practice"
RIVERSIDE = "Riverside Family Medicine"
# (practice, first name, last name, born, address line 1, line 2, city, state, ZIP)
PATIENTS = (
    (DEMO, "Maria", "Garcia", dt.date(1968, 3, 14), "45 West 34th Street", "Apt 5B", "New York", "NY", "10001"),
    (DEMO_PRACTICE, "James", "Miller", dt.date(1979, 11, 2), "210 Court Street", "", "Brooklyn", "NY", "11201"),
    (DEMO_PRACTICE, "Linda", "Chen", dt.date(1955, 7, 21), "8 Elm Street", "", "Hoboken", "NJ", "07030"),
    (RIVERSIDE, "Robert", "Okafor", dt.date(1961, 9, 30), "310 West 106th Street", "Apt 2A", "New York", "NY", "10025"),
    (RIVERSIDE, "Emma", "Lindqvist", dt.date(1990, 2, 11), "15 Claremont Avenue", "", "New York", "NY", "10027"),
)
PHARMACIES = (
    ("3312345", "Hudson Street Pharmacy", "120 Hudson Street", "New York", "NY", "10013", "(212) 555-0142", True),
    ("3356789", "Corner Drug Store", "9 Atlantic Avenue", "Brooklyn", "NY", "11201", "(718) 555-0190", False),
)
MEDICATIONS = (
    ("Oxycodone Hydrochloride", "5 mg", "tablet", "2"),
    ("Alprazolam", "0.5 mg", "tablet", "4"),
    ("Tramadol Hydrochloride", "50 mg", "tablet", "4"),
    ("Pregabalin", "75 mg", "capsule", "5"),
    ("Amoxicillin", "500 mg", "capsule", ""),
)


@dataclass(frozen=True)
class DemoPrescription:
    practice: str
    prescriber: str
    prepared_by: str  # the prescriber, or an agent of the practice (DEA-05)
    patient: str  # last name
    medication: str
    quantity: int
    directions: str
    refills: int


READY_PRESCRIPTIONS = (
    # EHR Demo Practice: dr.smith's, as before issue 10.
    DemoPrescription(
        DEMO_PRACTICE,
        "dr.smith",
        "dr.smith",
        "Garcia",
        "Oxycodone Hydrochloride",
        20,
        "Take 1 tablet by mouth every 6 hours as needed for severe pain",
        0,
    ),
    DemoPrescription(
        DEMO_PRACTICE,
        "dr.smith",
        "dr.smith",
        "Garcia",
        "Alprazolam",
        30,
        "Take 1 tablet by mouth twice daily as needed for anxiety",
        1,
    ),
    DemoPrescription(
        DEMO_PRACTICE, "dr.smith", "dr.smith", "Miller", "Pregabalin", 60, "Take 1 capsule by mouth twice daily", 2
    ),
    # Riverside Family Medicine: prepared by nurse.kim (agent) for dr.patel and dr.jones (a
    # locum). dr.patel's controlled ones are READY under her DEA registration that counts (the
    # credentials seed gives her FP1357929); without one they stay drafts.
    DemoPrescription(
        RIVERSIDE,
        "dr.patel",
        "nurse.kim",
        "Okafor",
        "Amoxicillin",
        21,
        "Take 1 capsule by mouth three times daily for 7 days",
        0,
    ),
    DemoPrescription(
        RIVERSIDE,
        "dr.patel",
        "nurse.kim",
        "Okafor",
        "Tramadol Hydrochloride",
        20,
        "Take 1 tablet by mouth every 6 hours as needed for pain",
        0,
    ),
    DemoPrescription(
        RIVERSIDE,
        "dr.patel",
        "nurse.kim",
        "Lindqvist",
        "Pregabalin",
        60,
        "Take 1 capsule by mouth twice daily",
        1,
    ),
    DemoPrescription(
        RIVERSIDE,
        "dr.jones",
        "nurse.kim",
        "Lindqvist",
        "Alprazolam",
        30,
        "Take 1 tablet by mouth at bedtime as needed for anxiety",
        0,
    ),
)
# The demo DEA number passes the check digit, second letter S for Smith (DEA-18).
DEMO_DEA_NUMBER = "AS1234563"


class Command(BaseCommand):
    help = "Create or refresh demo patients, pharmacies, medications and ready prescriptions, per practice."

    def handle(self, *args: Any, **options: Any) -> None:
        practices = {p.name: p for p in Practice.objects.filter(name__in=[DEMO_PRACTICE, RIVERSIDE])}
        if len(practices) != 2:
            self.stdout.write("The demo practices do not exist; no e-prescribing demo data (run seed_demo).")
            return
        with transaction.atomic():
            patients = {
                (practice_name, last): Patient.objects.update_or_create(
                    practice=practices[practice_name],
                    first_name=first,
                    last_name=last,
                    date_of_birth=born,
                    defaults={
                        "address_line1": line1,
                        "address_line2": line2,
                        "city": city,
                        "state": state,
                        "postal_code": postal,
                    },
                )[0]
                for practice_name, first, last, born, line1, line2, city, state, postal in PATIENTS
            }
            pharmacies = [
                Pharmacy.objects.update_or_create(
                    ncpdp_id=ncpdp,
                    defaults={
                        "name": name,
                        "address_line1": line1,
                        "city": city,
                        "state": state,
                        "postal_code": postal,
                        "phone": phone,
                        "accepts_epcs": epcs,
                    },
                )[0]
                for ncpdp, name, line1, city, state, postal, phone, epcs in PHARMACIES
            ]
            medications = {
                name: Medication.objects.update_or_create(
                    name=name, strength=strength, dosage_form=form, defaults={"dea_schedule": schedule}
                )[0]
                for name, strength, form, schedule in MEDICATIONS
            }
            created = self._prescriptions(practices, patients, pharmacies[0], medications)
        self.stdout.write(
            f"e-Prescribing demo: {len(patients)} patients, {len(pharmacies)} pharmacies, "
            f"{len(medications)} medications, {created} new prescriptions."
        )

    def _registration(self, provider: Provider) -> DeaRegistration | None:
        counting = registrations_that_count(provider).order_by("pk").first()
        if counting is not None or provider.user.username != "dr.smith":
            return counting
        registration = provider.dea_registrations.filter(revoked_at__isnull=True).order_by("pk").first()
        if registration is None:
            # The credentials seed did not make one: add the demo registration here.
            registration = DeaRegistration.objects.create(
                provider=provider,
                number=DEMO_DEA_NUMBER,
                state="NY",
                expires_on=timezone.localdate() + dt.timedelta(days=2 * 365),
            )
            erx_cache.bump_section(erx_cache.CREDENTIALS, provider.pk)
        return registration

    def _prescriptions(
        self,
        practices: dict[str, Practice],
        patients: dict[tuple[str, str], Patient],
        pharmacy: Pharmacy,
        medications: dict[str, Medication],
    ) -> int:
        users = {user.username: user for user in User.objects.filter(username__in=_usernames())}
        created = 0
        for item in READY_PRESCRIPTIONS:
            practice = practices[item.practice]
            provider = Provider.objects.filter(user__username=item.prescriber).select_related("user").first()
            preparer = users.get(item.prepared_by)
            if provider is None or preparer is None:
                self.stdout.write(f"{item.prescriber} or {item.prepared_by} does not exist; skipped (run seed_demo).")
                continue
            patient = patients[(item.practice, item.patient)]
            medication = medications[item.medication]
            same = {"patient": patient, "medication": medication, "directions": item.directions}
            if Prescription.objects.filter(practice=practice, prescriber=provider, **same).exists():
                continue
            registration = self._registration(provider) if medication.is_controlled else None
            rx = services.create_prescription(
                actor=preparer,
                prescriber=provider,
                practice=practice,
                fields={
                    "patient": patient,
                    "medication": medication,
                    "dea_registration": registration,
                    "quantity": item.quantity,
                    "quantity_unit": "tablets" if medication.dosage_form == "tablet" else "capsules",
                    "directions": item.directions,
                    "refills": item.refills,
                    "pharmacy": pharmacy,
                },
            )
            if not services.readiness_errors(rx):
                services.mark_ready(rx, preparer, practice=practice)
            created += 1
        return created


def _usernames() -> set[str]:
    return {item.prescriber for item in READY_PRESCRIPTIONS} | {item.prepared_by for item in READY_PRESCRIPTIONS}
