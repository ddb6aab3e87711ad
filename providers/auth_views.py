"""Sign-in pages (ASVS-02, ASVS-12): /accounts/login/ and the Django admin's sign-in.

Both forms call `authenticate()`, so the one password limiter (providers/backends.py) decides;
the forms only word its verdict.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView

from providers.models import Membership, PracticeRole
from providers.passwords import LOCKED_MESSAGES, refusal_for


class LimitedSignInMixin:
    """Say "too many attempts" when the limiter refused, instead of "wrong password"."""

    data: Any
    request: Any

    def clean(self) -> dict[str, Any]:
        refusal = refusal_for(self.request, self.data.get("username", ""))  # the backend enforces it
        try:
            return super().clean()  # type: ignore[misc]
        except forms.ValidationError:
            if refusal is not None:
                raise forms.ValidationError(LOCKED_MESSAGES[refusal], code=refusal.value) from None
            raise


class LimitedAuthenticationForm(LimitedSignInMixin, AuthenticationForm):
    pass


class LimitedAdminAuthenticationForm(LimitedSignInMixin, AdminAuthenticationForm):
    def confirm_login_allowed(self, user: Any) -> None:
        """Staff, and practice admins without the staff flag (providers.admin_scope)."""
        if user.is_staff or not user.is_active:
            super().confirm_login_allowed(user)
        elif Membership.objects.filter(user_id=user.pk, role=PracticeRole.PRACTICE_ADMIN).exists():
            AuthenticationForm.confirm_login_allowed(self, user)
        else:
            super().confirm_login_allowed(user)


class ThrottledLoginView(LoginView):
    form_class = LimitedAuthenticationForm
    redirect_authenticated_user = True
