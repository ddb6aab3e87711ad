"""The "Choose your practice" page and the header's switcher (rules in providers/practices.py)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from providers import practices


@login_required
def choose_practice(request: HttpRequest) -> HttpResponse:
    """GET: the person's practices to choose from. POST `practice`: work in it; a practice the
    person does not belong to (or no id at all) answers 404 and changes nothing."""
    next_url = practices.safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.method == "POST":
        try:
            practice_id = int(request.POST.get("practice", ""))
        except ValueError:
            raise Http404("No such practice") from None
        if practices.switch_practice(request, practice_id) is None:
            raise Http404("No such practice")
        return redirect(next_url)
    return render(
        request,
        "providers/choose_practice.html",
        {"choices": practices.practices_of(request.user), "next": next_url},
    )
