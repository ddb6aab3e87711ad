"""Request and response bodies of the signing-sessions API (eprescribe.signing_api).

A signing session is the API's name for a signing ceremony (models.SigningCeremony): the
review it shows is `ceremony_selection.build_review`'s, the same fields the page shows (DEA-06),
and the digests it is bound to are `ceremony_binding`'s (DEA-19).
"""

from __future__ import annotations

from rest_framework import serializers

from ehr.api import RejectUnknownFieldsMixin
from eprescribe.ceremony_selection import MAX_BATCH
from providers.reauth_api import FIRST_FACTOR_HELP, password_field


class SigningSessionCreateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    prescriptions = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=1,
        max_length=MAX_BATCH,
        help_text="Ids of READY controlled prescriptions of one patient that you wrote",
    )
    device = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="Id of one of your ID.me devices (GET /api/v1/mfa/devices/); default: your primary device",
    )
    password = password_field(FIRST_FACTOR_HELP)


class SigningCodeSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    code = serializers.RegexField(r"^\d{6}$", help_text="The 6-digit code your code generator shows")
    device = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="The code generator the code comes from; default: the session's code generator",
    )
    password = password_field(FIRST_FACTOR_HELP)


class SigningPushSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    device = serializers.IntegerField(
        required=False, min_value=1, help_text="The push device; default: the session's push device or your primary"
    )
    password = password_field(FIRST_FACTOR_HELP)


class ReviewLineSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    written_date = serializers.DateField()
    drug_name = serializers.CharField()
    strength = serializers.CharField()
    dosage_form = serializers.CharField()
    schedule = serializers.CharField()
    quantity = serializers.CharField()
    directions = serializers.CharField()
    refills = serializers.IntegerField()
    earliest_fill = serializers.DateField(allow_null=True)
    pharmacy = serializers.CharField()
    dea_number = serializers.CharField()
    state = serializers.CharField()


class ReviewSerializer(serializers.Serializer):
    """What the DEA requires the prescriber to review before signing (DEA-06)."""

    date = serializers.DateField()
    patient_name = serializers.CharField()
    patient_birth_date = serializers.DateField()
    patient_address = serializers.CharField()
    prescriber_name = serializers.CharField()
    prescriber_address = serializers.CharField()
    dea_numbers = serializers.ListField(child=serializers.CharField())
    prescriptions = ReviewLineSerializer(many=True, source="lines")


class BoundDigestSerializer(serializers.Serializer):
    prescription = serializers.IntegerField()
    content_sha256 = serializers.CharField()


class BindingSerializer(serializers.Serializer):
    """The digests the session is bound to; recomputed when the 2FA completes (DEA-19)."""

    binding_sha256 = serializers.CharField()
    signer_sha256 = serializers.CharField(help_text="Prescriber, DEA registrations and statement shown")
    statement_sha256 = serializers.CharField()
    prescriptions = BoundDigestSerializer(many=True)


class SessionDeviceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    kind = serializers.CharField(help_text="totp (code generator) or push")


class SessionPrescriptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()


class SigningSessionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(
        choices=[
            "open",
            "awaiting_code",
            "awaiting_push",
            "signed",
            "ended",
            "denied",
            "expired",
            "failed",
            "cancelled",
        ],
        help_text="open: no 2FA under way; awaiting_code / awaiting_push: waiting for the second factor; "
        "signed; ended: a change after the review ended the session (nothing signed, review again); "
        "denied / expired / failed / cancelled: the last 2FA attempt, nothing signed",
    )
    message = serializers.CharField(allow_blank=True, help_text="For the clinician: why nothing was signed, if so")
    reviewed_at = serializers.DateTimeField()
    end_reason = serializers.CharField(allow_blank=True)
    changed_prescriptions = serializers.ListField(child=serializers.IntegerField())
    review = ReviewSerializer(allow_null=True, help_text="Absent (null) once the session ended after a change")
    statement = serializers.CharField(help_text="The DEA statement, word for word (DEA-09)")
    binding = BindingSerializer()
    prescriptions = SessionPrescriptionSerializer(many=True)
    device = SessionDeviceSerializer(allow_null=True)
    method = serializers.ChoiceField(choices=["code", "push"], allow_null=True)
    match_number = serializers.CharField(allow_blank=True, help_text="Push: the number the phone asks for")
    expires_at = serializers.DateTimeField(allow_null=True, help_text="When the current 2FA request expires")
    seconds_left = serializers.IntegerField()
