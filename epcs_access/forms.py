"""Forms of the EPCS Permissions Page."""

from __future__ import annotations

from typing import Any

from django import forms

from providers.models import DeaRegistration, EpcsRequestAction, Practice, Provider
from providers.roles import practice_providers


class EnterRequestForm(forms.Form):
    """Enter a grant or revocation for a prescriber of `practice` (only its prescribers are
    offered; another practice's prescriber is "not in the list", like one that does not exist)."""

    provider = forms.ModelChoiceField(
        label="Prescriber",
        queryset=Provider.objects.none(),
        error_messages={"invalid_choice": "Choose a prescriber from the list."},
    )
    action = forms.ChoiceField(
        label="Change",
        choices=[(EpcsRequestAction.GRANT, "Grant EPCS"), (EpcsRequestAction.REVOKE, "Revoke EPCS")],
        error_messages={"invalid_choice": "Choose grant or revoke."},
    )
    registration = forms.ModelChoiceField(
        label="DEA registration used in this practice",
        queryset=DeaRegistration.objects.none(),
        required=False,
        help_text="Grants only; leave empty to allow any current, verified registration of the prescriber.",
        error_messages={"invalid_choice": "Choose one of the prescriber's own DEA registrations."},
    )
    note = forms.CharField(label="Note", max_length=300, required=False)

    def __init__(self, *args: Any, practice: Practice, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        providers = practice_providers(practice).select_related("user").order_by("display_name")
        self.fields["provider"].queryset = providers  # type: ignore[attr-defined]
        self.fields["registration"].queryset = (  # type: ignore[attr-defined]
            DeaRegistration.objects.filter(provider__in=providers, revoked_at__isnull=True)
            .select_related("provider")
            .order_by("provider__display_name", "number")
        )
        self.fields["registration"].label_from_instance = (  # type: ignore[attr-defined]
            lambda registration: f"{registration.number} ({registration.state}) of {registration.provider}"
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        provider, registration = cleaned.get("provider"), cleaned.get("registration")
        if provider is not None and registration is not None and registration.provider_id != provider.pk:
            self.add_error("registration", "Choose one of the prescriber's own DEA registrations.")
        return cleaned


class ApprovalCodeForm(forms.Form):
    code = forms.RegexField(
        label="6-digit code",
        regex=r"^\s*[0-9]{6}\s*$",
        error_messages={"invalid": "Enter the 6-digit code from your code generator."},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": "6"}),
    )

    def clean_code(self) -> str:
        return str(self.cleaned_data["code"]).strip()
