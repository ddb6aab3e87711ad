"""Pages of EPCS access: the EPCS Permissions Page and "Report lost or stolen device"."""

from django.urls import URLPattern, path

from epcs_access import views

urlpatterns: list[URLPattern] = [
    path("account/epcs/report-lost-device/", views.lost_device, name="epcs-report-lost-device"),
    path("account/epcs-permissions/", views.permissions_page, name="epcs-permissions"),
    path("account/epcs-permissions/requests/", views.enter_request, name="epcs-enter-request"),
    path("account/epcs-permissions/requests/<int:pk>/approve/", views.approve_request, name="epcs-approve"),
    path("account/epcs-permissions/requests/<int:pk>/reject/", views.reject_request, name="epcs-reject"),
    path("account/epcs-permissions/requests/<int:pk>/cancel/", views.cancel_request, name="epcs-cancel"),
    path("account/epcs-permissions/notices/<int:pk>/dismiss/", views.dismiss_notice, name="epcs-dismiss-notice"),
]
