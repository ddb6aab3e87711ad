"""A grant request may name the DEA registration the prescriber uses in the practice (issue 10)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("providers", "0008_epcs_permission_per_practice")]

    operations = [
        migrations.AddField(
            model_name="epcspermissionrequest",
            name="registration",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="providers.dearegistration",
            ),
        ),
    ]
