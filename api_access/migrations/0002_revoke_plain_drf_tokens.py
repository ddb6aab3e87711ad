"""Plain DRF tokens go away (issue 11; docs/api.md "Migration from plain tokens").

`rest_framework.authtoken` is no longer installed, so its migrations are gone from the graph;
on a database that had it, this deletes every stored token (they were kept in clear and never
expired: each one is revoked), drops its table, and removes its content types, permissions
and migration records. A fresh database has none of these and nothing happens.
"""

from django.db import migrations

TABLE = "authtoken_token"


def revoke_plain_tokens(apps, schema_editor):
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
        if TABLE in tables:
            cursor.execute(f"DELETE FROM {quote(TABLE)}")
            cursor.execute(f"DROP TABLE {quote(TABLE)}")
        cursor.execute(f"DELETE FROM {quote('django_migrations')} WHERE app = %s", ["authtoken"])
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    stale = ContentType.objects.filter(app_label="authtoken")
    Permission.objects.filter(content_type__in=stale).delete()
    stale.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("api_access", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(revoke_plain_tokens, migrations.RunPython.noop)]
