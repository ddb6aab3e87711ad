"""REST routes of the EPCS Permissions Page (under /api/v1/)."""

from django.urls import URLPattern, path

from epcs_access import api

urlpatterns: list[URLPattern] = [
    path("epcs/permissions/", api.PermissionListView.as_view(), name="api-epcs-permissions"),
    path("epcs/requests/", api.RequestListView.as_view(), name="api-epcs-requests"),
    path("epcs/requests/<int:pk>/", api.RequestDetailView.as_view(), name="api-epcs-request"),
    path("epcs/requests/<int:pk>/cancel/", api.CancelRequestView.as_view(), name="api-epcs-request-cancel"),
    path("epcs/requests/<int:pk>/reject/", api.RejectRequestView.as_view(), name="api-epcs-request-reject"),
    path("epcs/requests/<int:pk>/approval/", api.StartApprovalView.as_view(), name="api-epcs-approval-start"),
    path(
        "epcs/requests/<int:pk>/approval/<str:challenge_id>/",
        api.ApprovalStatusView.as_view(),
        name="api-epcs-approval-status",
    ),
    path(
        "epcs/requests/<int:pk>/approval/<str:challenge_id>/code/",
        api.ApprovalCodeView.as_view(),
        name="api-epcs-approval-code",
    ),
]
