"""Identity reviews: EPCS access managers of the current practice confirm or reject the identity
mismatches of its people (thin views; providers.identity.reviews decides). Another person's
review id answers 404 (ASVS-11)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from providers import services
from providers.identity import reviews
from providers.models import IdentityMismatch
from providers.practices import practice_required
from providers.reauth import reauthentication_required

PAGE_TEMPLATE = "providers/identity/reviews.html"
REFUSED_TEMPLATE = "providers/refused.html"


class ReviewForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        required=False,  # required to confirm, optional to reject: providers.identity.reviews decides
        max_length=reviews.REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the difference is legitimate (for example a maiden name). Optional to reject.",
    )


def page_url() -> str:
    return reverse("identity-reviews")


def _page(request: HttpRequest, errors: dict[int, str] | None = None, status: int = 200) -> HttpResponse:
    user = services.signed_in_user(request)
    errors = errors or {}
    rows: list[dict[str, Any]] = []
    practice = request.practice  # type: ignore[attr-defined]
    for mismatch in reviews.pending_mismatches(practice):
        rows.append(
            {
                "mismatch": mismatch,
                "own": mismatch.provider.user_id == user.pk,
                "expired": reviews.is_expired(mismatch),
                "error": errors.get(mismatch.pk, ""),
                "form": ReviewForm(request.POST if mismatch.pk in errors else None, auto_id=f"id_%s_{mismatch.pk}"),
            }
        )
    error = " ".join(errors.values())
    context = {"rows": rows, "decided": reviews.decided_mismatches(practice), "error": error}
    return render(request, PAGE_TEMPLATE, context, status=status)


def _refused(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, REFUSED_TEMPLATE, {"message": message, "page_heading": "Identity reviews"}, status=403)


@login_required
@practice_required
@require_GET
def reviews_page(request: HttpRequest) -> HttpResponse:
    if not reviews.can_review(request.user, request.practice):  # type: ignore[attr-defined]
        return _refused(request, reviews.REFUSAL_MESSAGES[reviews.ReviewRefusal.NOT_ACCESS_MANAGER])
    return _page(request)


def _decide(request: HttpRequest, pk: int, *, confirm: bool) -> HttpResponse:
    practice = request.practice  # type: ignore[attr-defined]
    form = ReviewForm(request.POST)
    if not form.is_valid():
        return _page(request, {pk: " ".join(str(e) for e in form.errors.get("reason", []))}, status=400)
    reason = form.cleaned_data["reason"]
    decide = reviews.confirm_mismatch if confirm else reviews.reject_mismatch
    try:
        decide(
            actor=services.signed_in_user(request), practice=practice, mismatch_id=pk, reason=reason, request=request
        )
    except IdentityMismatch.DoesNotExist as missing:
        raise Http404("No such identity review") from missing
    except reviews.IdentityReviewRefused as refusal:
        if refusal.code in (reviews.ReviewRefusal.NOT_ACCESS_MANAGER, reviews.ReviewRefusal.OWN_IDENTITY):
            return _refused(request, refusal.message)
        return _page(request, {pk: refusal.message}, status=400)
    if confirm:
        messages.success(request, "The identity has been confirmed. The prescriber's ID.me identity is now linked.")
    else:
        messages.success(request, "The identity mismatch has been rejected. Nothing was linked.")
    return redirect(page_url())


@login_required
@practice_required
@require_POST
@reauthentication_required
def confirm_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, confirm=True)


@login_required
@practice_required
@require_POST
@reauthentication_required
def reject_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, confirm=False)
