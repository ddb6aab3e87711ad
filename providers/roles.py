"""Who is who for EPCS: access managers and DEA registrants (DEA-03, DEA-20).

Access managers (active staff with `providers.manage_epcs_access`, given by the "EPCS access
manager" group) verify credentials, review identity mismatches and enter EPCS permission
changes; a DEA registrant is a provider with a registration that counts
(`providers.credentials.rules.registration_counts`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q

from providers.credentials.rules import has_current_registration
from providers.models import EpcsPermission, Provider, User

ACCESS_MANAGER_GROUP = "EPCS access manager"
ACCESS_MANAGER_PERMISSION = "providers.manage_epcs_access"


def is_access_manager(user: Any) -> bool:
    return bool(
        getattr(user, "is_authenticated", False)
        and user.is_active
        and user.is_staff
        and user.has_perm(ACCESS_MANAGER_PERMISSION)
    )


def ensure_access_manager_group() -> Group:
    """The "EPCS access manager" group with its permission (a data migration creates it too;
    this recreates it after a database flush, e.g. for the demo seed)."""
    content_type = ContentType.objects.get_for_model(EpcsPermission)
    permission, _ = Permission.objects.get_or_create(
        codename=ACCESS_MANAGER_PERMISSION.split(".")[1],
        content_type=content_type,
        defaults={"name": "Can enter EPCS permission grants and revocations"},
    )
    group, _ = Group.objects.get_or_create(name=ACCESS_MANAGER_GROUP)
    group.permissions.add(permission)
    return group


def access_managers() -> list[User]:
    app_label, codename = ACCESS_MANAGER_PERMISSION.split(".")
    permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
    condition = Q(is_superuser=True)
    if permission is not None:
        condition |= Q(groups__permissions=permission) | Q(user_permissions=permission)
    return list(User.objects.filter(condition, is_active=True, is_staff=True).distinct().order_by("username"))


def provider_of(user: Any) -> Provider | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Provider.objects.filter(user_id=user.pk).first()


def is_registrant(user: Any, on: dt.date | None = None) -> bool:
    """A DEA registrant: a provider with a DEA registration that counts (current and verified
    against the DEA registry by someone else)."""
    provider = provider_of(user)
    return provider is not None and has_current_registration(provider, on)
