"""Retire the deployment-wide "EPCS access manager" group (issue 10): roles come from memberships.

Each member of the group becomes an access manager of every practice they belong to (in any
role). A member who belongs to no practice gets nothing: there is no practice to manage, and a
practice admin gives them the role in Django admin when they join one (docs/epcs-permissions.md).
Then the group is deleted. The `manage_epcs_access` permission row stays (Django admin's).

Reversing recreates the empty group; the memberships made here stay.
"""

from typing import Any

from django.db import migrations

GROUP_NAME = "EPCS access manager"
ACCESS_MANAGER = "access_manager"


def group_members_to_memberships(apps: Any, schema_editor: Any) -> None:
    Group = apps.get_model("auth", "Group")
    Membership = apps.get_model("providers", "Membership")
    User = apps.get_model("providers", "User")
    group = Group.objects.filter(name=GROUP_NAME).first()
    if group is None:
        return
    for user in User.objects.filter(groups=group):
        practice_ids = set(Membership.objects.filter(user=user).values_list("practice_id", flat=True))
        for practice_id in practice_ids:
            Membership.objects.get_or_create(user=user, practice_id=practice_id, role=ACCESS_MANAGER)
    group.delete()


def recreate_empty_group(apps: Any, schema_editor: Any) -> None:
    apps.get_model("auth", "Group").objects.get_or_create(name=GROUP_NAME)


class Migration(migrations.Migration):
    dependencies = [
        ("providers", "0009_epcs_request_registration"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(group_members_to_memberships, recreate_empty_group)]
