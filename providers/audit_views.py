"""The practice's audit page: incident reports and audit events, read-only, for the practice's
access managers and auditors (thin views; providers.audit_access decides)."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audit.models import IncidentReport, Outcome
from providers import audit_access
from providers.practices import practice_required

PAGE_TEMPLATE = "providers/audit/page.html"
REPORT_TEMPLATE = "providers/audit/report.html"
REFUSED_TEMPLATE = "providers/refused.html"


class EventFilterForm(forms.Form):
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    actor = forms.CharField(label="Person (username)", required=False, max_length=150)
    action = forms.CharField(
        label="Action", required=False, max_length=64, help_text='An action or its start, e.g. "epcs." or "auth.login"'
    )
    outcome = forms.ChoiceField(label="Outcome", required=False, choices=[("", "Any"), *Outcome.choices])

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise forms.ValidationError('"From" must be on or before "To".')
        return cleaned


def _refused(request: HttpRequest) -> HttpResponse:
    message = audit_access.REFUSAL_MESSAGES[audit_access.AuditRefusal.NOT_AUDIT_READER]
    return render(request, REFUSED_TEMPLATE, {"message": message, "page_heading": "Audit"}, status=403)


@login_required
@practice_required
@require_GET
def audit_page(request: HttpRequest) -> HttpResponse:
    practice = request.practice  # type: ignore[attr-defined]
    if not audit_access.may_read_audit(request.user, practice):
        return _refused(request)
    form = EventFilterForm(request.GET or None)
    status = 200
    page = None
    if form.is_bound and not form.is_valid():
        status = 400  # a bad filter shows its error and no events
    else:
        chosen = audit_access.EventFilter(**(form.cleaned_data if form.is_bound else {}))
        paginator = Paginator(audit_access.events(practice, chosen), audit_access.EVENTS_PER_PAGE)
        page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "practice": practice,
        "reports": audit_access.incident_reports(practice),
        "form": form,
        "page": page,
        "query": query.urlencode(),
    }
    return render(request, PAGE_TEMPLATE, context, status=status)


@login_required
@practice_required
@require_GET
def incident_report_page(request: HttpRequest, pk: int) -> HttpResponse:
    practice = request.practice  # type: ignore[attr-defined]
    if not audit_access.may_read_audit(request.user, practice):
        return _refused(request)
    try:
        report = audit_access.incident_report(practice, pk)
    except IncidentReport.DoesNotExist as missing:
        raise Http404("No such incident report") from missing
    return render(request, REPORT_TEMPLATE, {"practice": practice, "report": report})
