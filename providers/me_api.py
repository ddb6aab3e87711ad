"""GET /api/v1/me/: who the caller is for EPCS, in one call (docs/api.md).

The provider profile, practices and roles (providers.models.Membership), the identity status
(DEA-02), the EPCS permission, and whether the caller may sign controlled substances now and,
if not, why: the sentence `providers.epcs.epcs_block_reason` gives, the one the signing page
shows. Read-only; nothing is created for a caller without a provider profile.
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
from providers.models import Membership, Provider, User
from providers.roles import is_access_manager, is_registrant, provider_of


class PracticeRolesSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField(), help_text="prescriber, agent, access_manager, ...")


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


class SigningReadinessSerializer(serializers.Serializer):
    ready = serializers.BooleanField(help_text="May sign controlled substance prescriptions now")
    reason = serializers.CharField(allow_blank=True, help_text="Why not, as the signing page says it")


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    provider = ProviderSerializer(allow_null=True)
    practices = PracticeRolesSerializer(many=True)
    access_manager = serializers.BooleanField(help_text="May verify credentials and enter EPCS permission changes")
    dea_registrant = serializers.BooleanField(help_text="Holds a current, verified DEA registration")
    identity = IdentitySerializer(allow_null=True)
    epcs_permission = EpcsPermissionSerializer(allow_null=True)
    signing = SigningReadinessSerializer()


def _practices(user: User) -> list[dict[str, Any]]:
    practices: dict[int, dict[str, Any]] = {}
    memberships = Membership.objects.filter(user=user).select_related("practice")
    for membership in memberships.order_by("practice__name", "role"):
        entry = practices.setdefault(
            membership.practice_id, {"id": membership.practice_id, "name": membership.practice.name, "roles": []}
        )
        entry["roles"].append(membership.role)
    return list(practices.values())


def _identity(provider: Provider) -> dict[str, Any]:
    return {
        "linked": bool(provider.idme_uuid),
        "confirmed": provider.identity_confirmed,
        "ial": provider.identity_ial,
        "verified_at": provider.identity_verified_at,
    }


def _permission(provider: Provider) -> dict[str, Any]:
    permission = permission_for(provider)
    if permission is None:
        return {"state": "none", "requested_at": None, "granted_at": None, "revoked_at": None, "revoked_reason": ""}
    return {
        "state": permission.state,
        "requested_at": permission.requested_at,
        "granted_at": permission.granted_at,
        "revoked_at": permission.revoked_at,
        "revoked_reason": permission.revoked_reason,
    }


def me_data(user: User) -> dict[str, Any]:
    provider = provider_of(user)
    if provider is None:
        reason = "Only prescribers sign controlled substance prescriptions."
    else:
        reason = epcs_block_reason(provider) or ""
    return {
        "username": user.get_username(),
        "provider": provider,
        "practices": _practices(user),
        "access_manager": is_access_manager(user),
        "dea_registrant": is_registrant(user),
        "identity": _identity(provider) if provider else None,
        "epcs_permission": _permission(provider) if provider else None,
        "signing": {"ready": not reason, "reason": reason},
    }


class MeView(APIView):
    """The caller: provider, practices and roles, identity, EPCS permission, readiness to sign."""

    @extend_schema(
        summary="Who I am for EPCS, and whether I may sign now",
        responses={
            200: MeSerializer,
            401: OpenApiResponse(description="No valid credentials"),
            403: OpenApiResponse(description="Not signed in"),
        },
    )
    def get(self, request: Request) -> Response:
        user = request.user
        assert isinstance(user, User)
        return Response(MeSerializer(me_data(user)).data)
