"""Pages of the prescriber credentials (eRx Info) and the EPCS Permissions Page."""

from django.urls import URLPattern, path

from providers import credentials_views, permissions_views, verification_views

urlpatterns: list[URLPattern] = [
    # Prescriber credentials on eRx Info
    path("account/credentials/dea/add/", credentials_views.dea_add, name="credentials-dea-add"),
    path("account/credentials/dea/<int:pk>/edit/", credentials_views.dea_edit, name="credentials-dea-edit"),
    path("account/credentials/dea/<int:pk>/remove/", credentials_views.dea_remove, name="credentials-dea-remove"),
    path("account/credentials/dea/<int:pk>/revoke/", credentials_views.dea_revoke, name="credentials-dea-revoke"),
    path("account/credentials/licenses/add/", credentials_views.license_add, name="credentials-license-add"),
    path(
        "account/credentials/licenses/<int:pk>/edit/", credentials_views.license_edit, name="credentials-license-edit"
    ),
    path(
        "account/credentials/licenses/<int:pk>/remove/",
        credentials_views.license_remove,
        name="credentials-license-remove",
    ),
    path("account/credentials/details/", credentials_views.prescriber_details, name="credentials-details"),
    path("account/epcs/report-lost-device/", credentials_views.lost_device, name="epcs-report-lost-device"),
    # The Credential Verification page (access managers verify DEA registrations and licenses)
    path("account/credential-verification/", verification_views.verification_page, name="credential-verification"),
    path(
        "account/credential-verification/dea/<int:pk>/verify/",
        verification_views.verify_registration,
        name="credential-verify-dea",
    ),
    path(
        "account/credential-verification/licenses/<int:pk>/verify/",
        verification_views.verify_license,
        name="credential-verify-license",
    ),
    # The EPCS Permissions Page
    path("account/epcs-permissions/", permissions_views.permissions_page, name="epcs-permissions"),
    path("account/epcs-permissions/requests/", permissions_views.enter_request, name="epcs-enter-request"),
    path("account/epcs-permissions/requests/<int:pk>/approve/", permissions_views.approve_request, name="epcs-approve"),
    path("account/epcs-permissions/requests/<int:pk>/reject/", permissions_views.reject_request, name="epcs-reject"),
    path("account/epcs-permissions/requests/<int:pk>/cancel/", permissions_views.cancel_request, name="epcs-cancel"),
    path(
        "account/epcs-permissions/notices/<int:pk>/dismiss/",
        permissions_views.dismiss_notice,
        name="epcs-dismiss-notice",
    ),
]
