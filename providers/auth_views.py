"""Sign-in with anti-automation (ASVS-02)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView

import audit
from audit.models import Outcome
from ehr.throttle import LOGIN_LIMITER


class ThrottledAuthenticationForm(AuthenticationForm):
    def clean(self) -> dict[str, Any]:
        username = str(self.data.get("username", ""))
        if LOGIN_LIMITER.is_locked(username):
            audit.record(
                "auth.login_locked",
                outcome=Outcome.DENIED,
                request=self.request,
                details={"username": username[:150]},
            )
            raise forms.ValidationError(
                "Too many failed sign-in attempts for this account. Wait 15 minutes and try again.",
                code="locked",
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            LOGIN_LIMITER.failure(username)
            raise
        LOGIN_LIMITER.reset(username)
        return cleaned


class ThrottledLoginView(LoginView):
    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True
