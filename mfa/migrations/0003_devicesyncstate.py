import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('mfa', '0002_verificationchallenge'),
        ('providers', '0002_provider_medicaid_id_dearegistration_statelicense'),
    ]

    operations = [
        migrations.CreateModel(
            name='DeviceSyncState',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('last_synced_at', models.DateTimeField(blank=True, help_text='Last successful sync with ID.me', null=True)),
                ('last_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('last_error', models.CharField(blank=True, help_text='Why the last attempt failed, if it did', max_length=300)),
                ('background_requested_at', models.DateTimeField(blank=True, help_text='When a background sync was last queued', null=True)),
                ('notices', models.JSONField(blank=True, default=list)),
                ('provider', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='device_sync', to='providers.provider')),
            ],
            options={
                'verbose_name': 'device sync state',
            },
        ),
    ]
