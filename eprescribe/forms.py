"""Forms for preparing prescriptions. The rules themselves live in eprescribe.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from eprescribe import services
from eprescribe.models import Medication, Patient, Pharmacy, Prescription
from providers.credentials.rules import registrations_that_count
from providers.models import DeaRegistration, Practice, PracticeRole, Provider, User
from providers.roles import has_role


class PrescriptionForm(forms.Form):
    prescriber = forms.ModelChoiceField(
        queryset=Provider.objects.none(), help_text="The DEA registrant who will sign this prescription"
    )
    patient = forms.ModelChoiceField(queryset=Patient.objects.all())
    medication = forms.ModelChoiceField(queryset=Medication.objects.all(), label="Drug")
    dea_registration = forms.ModelChoiceField(
        queryset=DeaRegistration.objects.none(),
        required=False,
        label="DEA registration",
        help_text="Required for a controlled substance; choose one if the prescriber has several",
    )
    quantity = forms.IntegerField(min_value=1, max_value=9999)
    quantity_unit = forms.CharField(label="Unit", max_length=30, initial="tablets")
    directions = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3}))
    refills = forms.IntegerField(
        min_value=0, max_value=99, initial=0, help_text="Schedule II: no refills. Schedule III to V: at most 5."
    )
    earliest_fill_date = forms.DateField(
        required=False, label="Earliest fill date", widget=forms.DateInput(attrs={"type": "date"})
    )
    pharmacy = forms.ModelChoiceField(queryset=Pharmacy.objects.all())

    def __init__(
        self,
        *args: Any,
        user: User,
        practice: Practice,
        own_provider: Provider | None,
        instance: Prescription | None = None,
        **kw: Any,
    ) -> None:
        if instance is not None:
            kw.setdefault("initial", {name: getattr(instance, name) for name in services.CONTENT_FIELDS})
        super().__init__(*args, **kw)
        self.user = user
        self.practice = practice
        self.instance = instance
        self.own_provider = own_provider
        patient_field: forms.ModelChoiceField = self.fields["patient"]  # type: ignore[assignment]
        patient_field.queryset = services.patients_of(practice)  # this practice's patients only
        prescriber_field: forms.ModelChoiceField = self.fields["prescriber"]  # type: ignore[assignment]
        registration_field: forms.ModelChoiceField = self.fields["dea_registration"]  # type: ignore[assignment]
        if instance is not None or not has_role(user, practice, PracticeRole.AGENT):
            # The prescriber of an existing prescription never changes; a prescriber
            # prepares only their own (DEA-05).
            del self.fields["prescriber"]
            prescriber = instance.prescriber if instance is not None else own_provider
            registration_field.queryset = registrations_that_count(prescriber)
        else:
            # An agent prepares for the prescribers of this practice (services.preparation_refusal).
            prescribers = services.preparable_prescribers(user, practice)
            prescriber_field.queryset = prescribers
            registration_field.queryset = registrations_that_count().filter(provider__in=prescribers)
            registration_field.queryset = registration_field.queryset.select_related("provider")
            registration_field.label_from_instance = lambda r: f"{r.number} ({r.state}), {r.provider}"  # type: ignore[method-assign,assignment]

    def chosen_prescriber(self) -> Provider:
        """The prescriber chosen (an agent) or the person themselves."""
        chosen = self.cleaned_data.get("prescriber") or self.own_provider
        if chosen is None:
            raise ValidationError("Choose the prescriber.")
        return chosen

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        medication = cleaned.get("medication")
        if medication is not None and "refills" in cleaned:
            # Shown together with any other error; the service checks again when saving.
            message = services.refill_error(medication, cleaned["refills"])
            if message:
                self.add_error("refills", message)
        return cleaned

    def content(self) -> dict[str, Any]:
        return {name: self.cleaned_data.get(name) for name in services.CONTENT_FIELDS}

    def add_service_errors(self, error: ValidationError) -> None:
        if hasattr(error, "error_dict"):
            for field, messages in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        else:
            self.add_error(None, error.messages)


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=300, required=False, label="Reason", help_text="Recorded in the audit trail")
