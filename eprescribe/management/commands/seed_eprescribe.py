"""Demo e-prescribing data: patients, pharmacies, medications and READY controlled
prescriptions for dr.smith, so the signing ceremony can be tried at once. Idempotent."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from eprescribe import services
from eprescribe.models import Medication, Patient, Pharmacy, Prescription
from providers import erx_cache
from providers.models import DeaRegistration, Provider

PATIENTS = (
    ("Maria", "Garcia", dt.date(1968, 3, 14), "45 West 34th Street", "Apt 5B", "New York", "NY", "10001"),
    ("James", "Miller", dt.date(1979, 11, 2), "210 Court Street", "", "Brooklyn", "NY", "11201"),
    ("Linda", "Chen", dt.date(1955, 7, 21), "8 Elm Street", "", "Hoboken", "NJ", "07030"),
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
# (patient last name, medication name, quantity, directions, refills)
READY_PRESCRIPTIONS = (
    ("Garcia", "Oxycodone Hydrochloride", 20, "Take 1 tablet by mouth every 6 hours as needed for severe pain", 0),
    ("Garcia", "Alprazolam", 30, "Take 1 tablet by mouth twice daily as needed for anxiety", 1),
    ("Miller", "Pregabalin", 60, "Take 1 capsule by mouth twice daily", 2),
)
# The demo DEA number passes the check digit, second letter S for Smith (DEA-18).
DEMO_DEA_NUMBER = "AS1234563"


class Command(BaseCommand):
    help = "Create or refresh demo patients, pharmacies, medications and ready prescriptions."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            patients = {
                last: Patient.objects.update_or_create(
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
                for first, last, born, line1, line2, city, state, postal in PATIENTS
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
            created = self._ready_prescriptions(patients, pharmacies[0], medications)
        self.stdout.write(
            f"e-Prescribing demo: {len(patients)} patients, {len(pharmacies)} pharmacies, "
            f"{len(medications)} medications, {created} new ready prescriptions."
        )

    def _ready_prescriptions(
        self, patients: dict[str, Patient], pharmacy: Pharmacy, medications: dict[str, Medication]
    ) -> int:
        provider = Provider.objects.filter(user__username="dr.smith").select_related("user").first()
        if provider is None:
            self.stdout.write("dr.smith does not exist; no demo prescriptions (run seed_demo).")
            return 0
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
        created = 0
        for last_name, medication_name, quantity, directions, refills in READY_PRESCRIPTIONS:
            patient = patients[last_name]
            medication = medications[medication_name]
            if Prescription.objects.filter(
                prescriber=provider, patient=patient, medication=medication, directions=directions
            ).exists():
                continue
            rx = services.create_prescription(
                actor=provider.user,
                prescriber=provider,
                fields={
                    "patient": patient,
                    "medication": medication,
                    "dea_registration": registration,
                    "quantity": quantity,
                    "quantity_unit": "tablets" if medication.dosage_form == "tablet" else "capsules",
                    "directions": directions,
                    "refills": refills,
                    "pharmacy": pharmacy,
                },
            )
            services.mark_ready(rx, provider.user)
            created += 1
        return created
