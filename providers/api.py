"""REST API for the signed-in provider's own profile."""

from __future__ import annotations

from rest_framework import generics, serializers

from providers import services
from providers.models import Provider


class ProviderSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    identity_confirmed = serializers.BooleanField(read_only=True)

    class Meta:
        model = Provider
        fields = [
            "id",
            "username",
            "display_name",
            "prescribing_name",
            "npi",
            "phone",
            "address_line1",
            "address_line2",
            "city",
            "state",
            "postal_code",
            "identity_confirmed",
            "identity_ial",
            "identity_verified_at",
        ]
        read_only_fields = ["id", "identity_ial", "identity_verified_at"]


class MyProviderView(generics.RetrieveAPIView):
    """The provider profile of the caller."""

    serializer_class = ProviderSerializer
    api_resource = "profile"  # token scope profile:read (ehr.api_permissions.TokenScopes)

    def get_object(self) -> Provider:
        return services.current_provider(self.request)
