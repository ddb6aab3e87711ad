"""EPCS permissions, their requests and notices belong to a practice (issue 10).

Existing rows go to a practice the prescriber is a member of, else to one practice made for
them ("Existing practice"), so a deployment that ran before practices keeps its permissions.
"""

import django.db.models.deletion
from django.db import migrations, models


def practice_for(apps, provider_id):
    Membership = apps.get_model("providers", "Membership")
    Practice = apps.get_model("providers", "Practice")
    Provider = apps.get_model("providers", "Provider")
    user_id = Provider.objects.filter(pk=provider_id).values_list("user_id", flat=True).first()
    membership = Membership.objects.filter(user_id=user_id).order_by("practice_id").first()
    if membership is not None:
        return membership.practice_id
    return Practice.objects.get_or_create(name="Existing practice")[0].pk


def backfill(apps, schema_editor):
    for name in ("EpcsPermission", "EpcsPermissionRequest", "EpcsAccessNotice"):
        model = apps.get_model("providers", name)
        for row in model.objects.filter(practice__isnull=True):
            model.objects.filter(pk=row.pk).update(practice_id=practice_for(apps, row.provider_id))


class Migration(migrations.Migration):
    dependencies = [("providers", "0007_practices")]

    operations = [
        migrations.RemoveConstraint(model_name="epcspermissionrequest", name="one_pending_epcs_request"),
        migrations.AlterField(
            model_name="epcspermission",
            name="provider",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="epcs_permissions", to="providers.provider"
            ),
        ),
        migrations.AddField(
            model_name="epcspermission",
            name="registration",
            field=models.ForeignKey(
                blank=True,
                help_text="The DEA registration used in this practice; empty: any current, verified one of the prescriber's",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="providers.dearegistration",
            ),
        ),
        *[
            migrations.AddField(
                model_name=name,
                name="practice",
                field=models.ForeignKey(
                    null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="providers.practice"
                ),
            )
            for name in ("epcspermission", "epcspermissionrequest", "epcsaccessnotice")
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
            for name in ("epcspermission", "epcspermissionrequest", "epcsaccessnotice")
        ],
        migrations.AddConstraint(
            model_name="epcspermission",
            constraint=models.UniqueConstraint(fields=("provider", "practice"), name="one_epcs_permission_per_practice"),
        ),
        migrations.AddConstraint(
            model_name="epcspermissionrequest",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "pending")),
                fields=("provider", "practice"),
                name="one_pending_epcs_request",
            ),
        ),
    ]
