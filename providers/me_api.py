"""GET /api/v1/me/: who the caller is for EPCS, in one call (docs/api.md).

The provider profile, the practices and the roles in each (providers.models.Membership), the
identity status (DEA-02), and for the practice the call works in (`api_practice`: the
session's, the `X-Practice-Id` header's, or the only one) the roles, the EPCS permission and
whether the caller may sign controlled substances there now and, if not, why: the sentence
`providers.epcs.epcs_block_reason` gives, the one the signing page shows. Each practice of the
list says the same in short (permission state, ready, reason). A locum who names no practice
gets `practice: null` and the reason asks to choose one (no 403: this is where a script learns
the practices' ids). Read-only; nothing is created for a caller without a provider profile.
Token scope: profile:read.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from providers.api import ProviderSerializer
from providers.epcs import epcs_block_reason, permission_for
from providers.models import EpcsPermission, Practice, Provider, User
from providers.practices import PRACTICE_HEADER, api_practice, memberships_of
from providers.roles import is_access_manager, is_registrant, provider_of

NOT_A_PRESCRIBER = "Only prescribers sign controlled substance prescriptions."
NO_PRACTICE = (
    f"Choose a practice: send the {PRACTICE_HEADER} header with one of your practices' ids "
    "(EPCS permission is given per practice)."
)


class SigningReadinessSerializer(serializers.Serializer):
    ready = serializers.BooleanField(help_text="May sign controlled substance prescriptions in this practice now")
    reason = serializers.CharField(allow_blank=True, help_text="Why not, as the signing page says it")


class PracticeRolesSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField(), help_text="prescriber, agent, access_manager, ...")
    epcs_permission = serializers.CharField(help_text="Your EPCS permission here: none, requested, granted or revoked")
    signing = SigningReadinessSerializer()


class PracticeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class IdentitySerializer(serializers.Serializer):
    linked = serializers.BooleanField(help_text="The EHR account is linked to an ID.me account")
    confirmed = serializers.BooleanField(help_text="Identity proofed at IAL2 through ID.me (DEA-02)")
    ial = serializers.CharField(allow_blank=True)
    verified_at = serializers.DateTimeField(allow_null=True)


class EpcsPermissionSerializer(serializers.Serializer):
    state = serializers.CharField(help_text="none, requested, granted or revoked")
    requested_at = serializers.DateTimeField(allow_null=True)
    granted_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    revoked_reason = serializers.CharField(allow_blank=True)


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    provider = ProviderSerializer(allow_null=True)
    practices = PracticeRolesSerializer(many=True)
    practice = PracticeSerializer(allow_null=True, help_text="The practice of this call (X-Practice-Id)")
    roles = serializers.ListField(child=serializers.CharField(), help_text="Your roles in that practice")
    access_manager = serializers.BooleanField(
        help_text="Access manager of that practice: verifies credentials, enters EPCS permission changes"
    )
    dea_registrant = serializers.BooleanField(
        help_text="Prescriber of that practice with a current, verified DEA registration"
    )
    identity = IdentitySerializer(allow_null=True)
    epcs_permission = EpcsPermissionSerializer(allow_null=True, help_text="Your EPCS permission in that practice")
    signing = SigningReadinessSerializer(help_text="Whether you may sign EPCS in that practice now")


def _identity(provider: Provider) -> dict[str, Any]:
    return {
        "linked": bool(provider.idme_uuid),
        "confirmed": provider.identity_confirmed,
        "ial": provider.identity_ial,
        "verified_at": provider.identity_verified_at,
    }


def _permission(permission: EpcsPermission | None) -> dict[str, Any]:
    if permission is None:
        return {"state": "none", "requested_at": None, "granted_at": None, "revoked_at": None, "revoked_reason": ""}
    return {
        "state": permission.state,
        "requested_at": permission.requested_at,
        "granted_at": permission.granted_at,
        "revoked_at": permission.revoked_at,
        "revoked_reason": permission.revoked_reason,
    }


def _readiness(
    provider: Provider | None, practice: Practice | None, permission: EpcsPermission | None
) -> dict[str, Any]:
    if provider is None:
        reason = NOT_A_PRESCRIBER
    elif practice is None:
        reason = NO_PRACTICE
    else:
        reason = epcs_block_reason(provider, practice, permission=permission) or ""
    return {"ready": not reason, "reason": reason}


def me_data(user: User, current: Practice | None) -> dict[str, Any]:
    """The caller, and their EPCS standing in `current` (the practice of the call) and in each practice."""
    provider = provider_of(user)
    practices: dict[int, dict[str, Any]] = {}
    for membership in sorted(memberships_of(user), key=lambda m: (m.practice.name, m.practice_id, m.role)):
        entry = practices.get(membership.practice_id)
        if entry is None:
            permission = permission_for(provider, membership.practice) if provider else None
            entry = practices[membership.practice_id] = {
                "id": membership.practice_id,
                "name": membership.practice.name,
                "roles": [],
                "epcs_permission": permission.state if permission else "none",
                "signing": _readiness(provider, membership.practice, permission),
            }
        entry["roles"].append(membership.role)
    current_entry = practices.get(current.pk) if current is not None else None
    permission = permission_for(provider, current) if provider and current else None
    return {
        "username": user.get_username(),
        "provider": provider,
        "practices": list(practices.values()),
        "practice": {"id": current.pk, "name": current.name} if current is not None else None,
        "roles": current_entry["roles"] if current_entry else [],
        "access_manager": is_access_manager(user, current),
        "dea_registrant": is_registrant(user, current),
        "identity": _identity(provider) if provider else None,
        "epcs_permission": _permission(permission) if provider else None,
        "signing": current_entry["signing"] if current_entry else _readiness(provider, current, None),
    }


class MeView(APIView):
    """The caller: provider, practices and roles, identity, EPCS permission, readiness to sign."""

    api_resource = "profile"  # token scope profile:read (ehr.api_permissions.TokenScopes)

    @extend_schema(
        summary="Who I am for EPCS, and whether I may sign now in this practice",
        responses={
            200: MeSerializer,
            401: OpenApiResponse(description="No valid credentials"),
            403: OpenApiResponse(description="Not signed in, or the token lacks profile:read"),
        },
    )
    def get(self, request: Request) -> Response:
        user = request.user
        assert isinstance(user, User)
        return Response(MeSerializer(me_data(user, api_practice(request))).data)
