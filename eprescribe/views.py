"""Prescription pages: list, prepare/edit, ready, cancel, retry, printed copy.

Thin: every change goes through eprescribe.services. Every page works inside the current
practice (`practice_required`): a prescription the signed-in user neither writes nor
prepared, or one of another practice, is "not found" (ASVS-06, ASVS-11).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.views.decorators.http import require_http_methods, require_POST

from eprescribe import services
from eprescribe.forms import CancelForm, PrescriptionForm
from eprescribe.models import Prescription, PrescriptionState
from providers.models import Practice, Provider, User
from providers.practices import practice_required
from providers.services import signed_in_user

# The "ceremony" helper's "Sign selected" form, included on the list page when present.
SIGN_SELECTED_TEMPLATE = "eprescribe/ceremony_sign_selected.html"


def _own_provider(user: User) -> Provider | None:
    return Provider.objects.filter(user=user).first()


def _practice(request: HttpRequest) -> Practice:
    practice: Practice | None = getattr(request, "practice", None)
    if practice is None:  # practice_required sends such a person to the choice page first
        raise Http404("No practice chosen")
    return practice


def _get(request: HttpRequest, pk: int) -> Prescription:
    rx = services.prescriptions_for(signed_in_user(request), _practice(request)).filter(pk=pk).first()
    if rx is None:
        raise Http404("No such prescription")
    return rx


def _sign_selected_template() -> str | None:
    try:
        get_template(SIGN_SELECTED_TEMPLATE)
    except TemplateDoesNotExist:
        return None
    return SIGN_SELECTED_TEMPLATE


@login_required
@practice_required
def prescription_list(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    prescriptions = list(services.prescriptions_for(user, _practice(request)).order_by("-created_at", "-pk")[:500])
    for rx in prescriptions:
        rx.signable = (  # type: ignore[attr-defined]
            rx.state == PrescriptionState.READY and rx.medication.is_controlled and rx.prescriber.user_id == user.pk
        )
    failed = [rx for rx in prescriptions if rx.state == PrescriptionState.TRANSMISSION_FAILED]
    return render(
        request,
        "eprescribe/prescription_list.html",
        {
            "prescriptions": prescriptions,
            "failed": failed,
            "any_signable": any(rx.signable for rx in prescriptions),  # type: ignore[attr-defined]
            "sign_selected_template": _sign_selected_template(),
        },
    )


@login_required
@practice_required
@require_http_methods(["GET", "POST"])
def prescription_new(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    practice = _practice(request)
    if not services.may_prepare_any(user, practice):
        messages.error(request, "Only this practice's prescribers and agents can prepare prescriptions.")
        return redirect("eprescribe:prescriptions")
    form = PrescriptionForm(request.POST or None, user=user, practice=practice, own_provider=_own_provider(user))
    if request.method == "POST" and form.is_valid():
        try:
            rx = services.create_prescription(
                actor=user,
                prescriber=form.chosen_prescriber(),
                practice=practice,
                fields=form.content(),
                request=request,
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except services.PrescriptionError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "The prescription was saved as a draft.")
            return redirect("eprescribe:detail", pk=rx.pk)
    return render(request, "eprescribe/prescription_form.html", {"form": form, "prescription": None})


@login_required
@practice_required
def prescription_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in_user(request)
    rx = _get(request, pk)
    return render(
        request,
        "eprescribe/prescription_detail.html",
        {
            "rx": rx,
            "is_prescriber": services.is_prescriber(user, rx),
            "can_cancel": rx.state != PrescriptionState.CANCELLED
            and (services.is_prescriber(user, rx) or not rx.is_signed),
        },
    )


@login_required
@practice_required
@require_http_methods(["GET", "POST"])
def prescription_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in_user(request)
    rx = _get(request, pk)
    if not rx.is_editable:
        messages.error(request, "A signed or cancelled prescription cannot be changed. Cancel it and write a new one.")
        return redirect("eprescribe:detail", pk=rx.pk)
    practice = _practice(request)
    form = PrescriptionForm(request.POST or None, user=user, practice=practice, own_provider=rx.prescriber, instance=rx)
    if request.method == "POST" and form.is_valid():
        was_ready = rx.state == PrescriptionState.READY
        try:
            rx = services.update_prescription(
                rx, actor=user, practice=practice, changes=form.content(), request=request
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except services.PrescriptionError as exc:
            form.add_error(None, str(exc))
        else:
            if was_ready and rx.state == PrescriptionState.DRAFT:
                messages.warning(
                    request, "Saved. A DEA-required field changed, so the prescription is no longer ready for signing."
                )
            else:
                messages.success(request, "The prescription was saved.")
            return redirect("eprescribe:detail", pk=rx.pk)
    return render(request, "eprescribe/prescription_form.html", {"form": form, "prescription": rx})


@login_required
@practice_required
@require_POST
def prescription_ready(request: HttpRequest, pk: int) -> HttpResponse:
    rx = _get(request, pk)
    try:
        services.mark_ready(rx, signed_in_user(request), practice=_practice(request), request=request)
    except services.PrescriptionError as exc:
        messages.error(request, f"Not marked ready: {exc}")
    else:
        messages.success(request, "Marked ready for signing.")
    return redirect("eprescribe:detail", pk=rx.pk)


@login_required
@practice_required
@require_http_methods(["GET", "POST"])
def prescription_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    rx = _get(request, pk)
    form = CancelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.cancel_prescription(
                rx,
                actor=signed_in_user(request),
                practice=_practice(request),
                reason=form.cleaned_data["reason"],
                request=request,
            )
        except services.PrescriptionError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "The prescription was cancelled.")
        return redirect("eprescribe:detail", pk=rx.pk)
    return render(request, "eprescribe/prescription_cancel.html", {"rx": rx, "form": form})


@login_required
@practice_required
@require_POST
def prescription_retry(request: HttpRequest, pk: int) -> HttpResponse:
    rx = _get(request, pk)
    try:
        services.retry_transmission(rx, actor=signed_in_user(request), practice=_practice(request), request=request)
    except services.PrescriptionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Sending the prescription to the pharmacy again.")
    if request.POST.get("next") == "list":
        return redirect("eprescribe:prescriptions")
    return redirect("eprescribe:detail", pk=rx.pk)


@login_required
@practice_required
def prescription_print(request: HttpRequest, pk: int) -> HttpResponse:
    rx = _get(request, pk)
    if rx.state != PrescriptionState.TRANSMITTED:
        messages.error(request, "A printed copy is available once the prescription has been sent to the pharmacy.")
        return redirect("eprescribe:detail", pk=rx.pk)
    return render(request, "eprescribe/prescription_print.html", {"rx": rx})
