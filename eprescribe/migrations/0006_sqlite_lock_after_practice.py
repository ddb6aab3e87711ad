"""The SQLite DEA-12 / DEA-17 triggers of 0004 again: 0005 (the practice column) made SQLite
rebuild eprescribe_prescription, which drops a table's triggers. Nothing happens on PostgreSQL
(its trigger of 0002 survives ALTER TABLE)."""

from importlib import import_module

from django.db import migrations

_lock = import_module("eprescribe.migrations.0004_sqlite_signed_prescription_lock")


class Migration(migrations.Migration):
    dependencies = [("eprescribe", "0005_practice_owned")]

    operations = [migrations.RunPython(_lock.create_triggers, _lock.drop_triggers)]
