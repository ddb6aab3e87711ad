"""Filters and cursor pagination of the prescriptions list (GET /api/v1/prescriptions/).

Query parameters are checked by a serializer, so a bad value is a 400 with the field named,
never an ignored filter. Pagination is DRF's cursor pagination, newest first: the cursor is
opaque and stable while prescriptions are added (docs/api.md, "Pagination").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from rest_framework import serializers

from ehr.api import StrictCursorPagination
from eprescribe.models import DeaSchedule, Prescription, PrescriptionState


class NewestFirstCursorPagination(StrictCursorPagination):
    """Cursor pagination over (created_at, id), newest first; ?page_size= up to 100."""

    ordering = ("-created_at", "-id")
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


class PrescriptionFilterSerializer(serializers.Serializer):
    state = serializers.MultipleChoiceField(
        choices=PrescriptionState.choices, required=False, help_text="One or more states (repeat the parameter)"
    )
    patient = serializers.IntegerField(required=False, min_value=1, help_text="A patient id")
    created_after = serializers.DateField(required=False, help_text="Created on or after this date (YYYY-MM-DD)")
    created_before = serializers.DateField(required=False, help_text="Created on or before this date (YYYY-MM-DD)")
    controlled = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="true: controlled substances only; false: none"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        after, before = attrs.get("created_after"), attrs.get("created_before")
        if after and before and after > before:
            raise serializers.ValidationError({"created_before": ["Must not be before created_after."]})
        return attrs


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def filter_prescriptions(queryset: QuerySet[Prescription], params: Any) -> QuerySet[Prescription]:
    """`queryset` narrowed by the query parameters; serializers.ValidationError (400) for bad ones."""
    data = {key: params.getlist(key) if key == "state" else params.get(key) for key in params}
    body = PrescriptionFilterSerializer(data=data)
    body.is_valid(raise_exception=True)
    values = body.validated_data
    if values.get("state"):
        queryset = queryset.filter(state__in=sorted(values["state"]))
    if values.get("patient"):
        queryset = queryset.filter(patient_id=values["patient"])
    if values.get("created_after"):
        queryset = queryset.filter(created_at__gte=_day_start(values["created_after"]))
    if values.get("created_before"):
        queryset = queryset.filter(created_at__lt=_day_start(values["created_before"] + dt.timedelta(days=1)))
    if values.get("controlled") is True:
        queryset = queryset.exclude(medication__dea_schedule=DeaSchedule.NOT_CONTROLLED)
    elif values.get("controlled") is False:
        queryset = queryset.filter(medication__dea_schedule=DeaSchedule.NOT_CONTROLLED)
    return queryset
