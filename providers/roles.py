"""Who is who, practice by practice (DEA-03, DEA-20, ASVS-11; docs/architecture.md "Practices").

Roles come from memberships (`providers.models.Membership`): a person is a prescriber, agent,
access manager, auditor or practice admin *in a practice*, and every question here names the
practice. Access managers verify credentials, review identity mismatches and enter EPCS
permission changes for the people of their practice; a DEA registrant of a practice is a
prescriber of that practice with a registration that counts
(`providers.credentials.rules.registration_counts`). Staff and superuser flags matter only in
Django admin.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from providers.credentials.rules import has_current_registration
from providers.models import Membership, Practice, PracticeRole, Provider, User


def _active(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active)


def has_role(user: Any, practice: Practice | None, *roles: PracticeRole) -> bool:
    """Whether an active person holds any of `roles` in `practice` (no practice: no role)."""
    if practice is None or not _active(user):
        return False
    return Membership.objects.filter(user_id=user.pk, practice=practice, role__in=roles).exists()


def is_access_manager(user: Any, practice: Practice | None) -> bool:
    return has_role(user, practice, PracticeRole.ACCESS_MANAGER)


def access_managers(practice: Practice) -> list[User]:
    """The active access managers of a practice, by username."""
    return list(
        User.objects.filter(
            memberships__practice=practice, memberships__role=PracticeRole.ACCESS_MANAGER, is_active=True
        )
        .distinct()
        .order_by("username")
    )


def members(practice: Practice, *roles: PracticeRole) -> list[User]:
    """The active people of a practice (holding any of `roles`, when given), by username."""
    queryset = User.objects.filter(memberships__practice=practice, is_active=True)
    if roles:
        queryset = queryset.filter(memberships__role__in=roles)
    return list(queryset.distinct().order_by("username"))


def is_member(user: Any, practice: Practice | None) -> bool:
    if practice is None or not _active(user):
        return False
    return Membership.objects.filter(user_id=user.pk, practice=practice).exists()


def provider_of(user: Any) -> Provider | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Provider.objects.filter(user_id=user.pk).first()


def practice_providers(practice: Practice) -> Any:
    """The providers (QuerySet) who are prescribers of a practice."""
    return Provider.objects.filter(
        user__memberships__practice=practice, user__memberships__role=PracticeRole.PRESCRIBER
    ).distinct()


def is_registrant(user: Any, practice: Practice | None, on: dt.date | None = None) -> bool:
    """A DEA registrant of a practice: one of its prescribers with a DEA registration that
    counts (current and verified against the DEA registry by someone else)."""
    if not has_role(user, practice, PracticeRole.PRESCRIBER):
        return False
    provider = provider_of(user)
    return provider is not None and has_current_registration(provider, on)
