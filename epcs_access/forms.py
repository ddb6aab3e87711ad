"""Forms of the EPCS Permissions Page."""

from __future__ import annotations

from django import forms

from providers.models import EpcsRequestAction, Provider


class EnterRequestForm(forms.Form):
    provider = forms.ModelChoiceField(
        label="Prescriber",
        queryset=Provider.objects.select_related("user").order_by("display_name"),
        error_messages={"invalid_choice": "Choose a prescriber from the list."},
    )
    action = forms.ChoiceField(
        label="Change",
        choices=[(EpcsRequestAction.GRANT, "Grant EPCS"), (EpcsRequestAction.REVOKE, "Revoke EPCS")],
        error_messages={"invalid_choice": "Choose grant or revoke."},
    )
    note = forms.CharField(label="Note", max_length=300, required=False)


class ApprovalCodeForm(forms.Form):
    code = forms.RegexField(
        label="6-digit code",
        regex=r"^\s*[0-9]{6}\s*$",
        error_messages={"invalid": "Enter the 6-digit code from your code generator."},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": "6"}),
    )

    def clean_code(self) -> str:
        return str(self.cleaned_data["code"]).strip()
