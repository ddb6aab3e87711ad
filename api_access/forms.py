from __future__ import annotations

from django import forms
from django.conf import settings

from ehr.api_scopes import SCOPES


class CreateTokenForm(forms.Form):
    name = forms.CharField(
        label="Token name", max_length=100, help_text="What the token is for, e.g. “Nightly prescription export”"
    )
    scopes = forms.MultipleChoiceField(
        label="Scopes",
        choices=[(scope, f"{scope} — {description}") for scope, description in SCOPES.items()],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one scope."},
    )
    days = forms.IntegerField(
        label="Expires after (days)",
        min_value=1,
        max_value=settings.API_TOKEN_MAX_DAYS,
        initial=settings.API_TOKEN_DEFAULT_DAYS,
        help_text=(
            f"From 1 to {settings.API_TOKEN_MAX_DAYS} days; {settings.API_TOKEN_DEFAULT_DAYS} if unsure. "
            "A token with epcs:sign lasts 12 hours at most."
        ),
    )

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if not name:
            raise forms.ValidationError("Give the token a name.")
        return name
