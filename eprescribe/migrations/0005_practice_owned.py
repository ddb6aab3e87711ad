"""Patients, prescriptions and signing ceremonies belong to a practice (issue 10).

Existing rows go to a practice their prescriber (for a patient: the prescriber of their first
prescription) is a member of, else to one practice made for them ("Existing practice"). The
practice column is not one of the signed columns the DEA-12 triggers lock, so signed rows can
be filled in.
"""

import django.db.models.deletion
from django.db import migrations, models

MODELS = ("patient", "prescription", "signingceremony")


def backfill(apps, schema_editor):
    Membership = apps.get_model("providers", "Membership")
    Practice = apps.get_model("providers", "Practice")
    Patient = apps.get_model("eprescribe", "Patient")
    Prescription = apps.get_model("eprescribe", "Prescription")
    SigningCeremony = apps.get_model("eprescribe", "SigningCeremony")

    def practice_of(provider):
        if provider is None:
            return Practice.objects.get_or_create(name="Existing practice")[0].pk
        membership = Membership.objects.filter(user_id=provider.user_id).order_by("practice_id").first()
        if membership is not None:
            return membership.practice_id
        return Practice.objects.get_or_create(name="Existing practice")[0].pk

    for rx in Prescription.objects.filter(practice__isnull=True).select_related("prescriber"):
        Prescription.objects.filter(pk=rx.pk).update(practice_id=practice_of(rx.prescriber))
    for ceremony in SigningCeremony.objects.filter(practice__isnull=True).select_related("provider"):
        SigningCeremony.objects.filter(pk=ceremony.pk).update(practice_id=practice_of(ceremony.provider))
    for patient in Patient.objects.filter(practice__isnull=True):
        first = Prescription.objects.filter(patient_id=patient.pk).order_by("pk").first()
        practice_id = first.practice_id if first is not None else practice_of(None)
        Patient.objects.filter(pk=patient.pk).update(practice_id=practice_id)


class Migration(migrations.Migration):
    dependencies = [
        ("eprescribe", "0004_sqlite_signed_prescription_lock"),
        ("providers", "0008_epcs_permission_per_practice"),
    ]

    operations = [
        *[
            migrations.AddField(
                model_name=name,
                name="practice",
                field=models.ForeignKey(
                    null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="providers.practice"
                ),
            )
            for name in MODELS
        ],
        migrations.RunPython(backfill, migrations.RunPython.noop),
        *[
            migrations.AlterField(
                model_name=name,
                name="practice",
                field=models.ForeignKey(
                    on_delete=django.db.models.deletion.PROTECT, related_name="+", to="providers.practice"
                ),
            )
            for name in MODELS
        ],
    ]
