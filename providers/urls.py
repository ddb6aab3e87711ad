from django.contrib.auth import views as auth_views
from django.urls import path

from providers import audit_views, practice_views, views
from providers.auth_views import ThrottledLoginView
from providers.credentials import verification_views
from providers.credentials import views as credentials_views
from providers.identity import reviews_views
from providers.identity import views as identity

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("practice/choose/", practice_views.choose_practice, name="choose-practice"),
    # The practice's incident reports and audit events (access managers and auditors)
    path("account/audit/", audit_views.audit_page, name="audit-page"),
    path("account/audit/reports/<int:pk>/", audit_views.incident_report_page, name="audit-report"),
    path("account/reauthenticate/", views.reauthenticate, name="reauthenticate"),
    path("account/provider-settings/<slug:tab>/", views.provider_settings, name="provider-settings"),
    # Identity proofing with ID.me (providers/identity/views.py; rules in services.py)
    path("account/idme/verify/", identity.verify_with_idme, name="idme-verify"),
    path("account/idme/callback/", identity.idme_callback, name="idme-callback"),
    # Identity mismatches reviewed by EPCS access managers (providers/identity/reviews.py)
    path("account/identity-reviews/", reviews_views.reviews_page, name="identity-reviews"),
    path("account/identity-reviews/<int:pk>/confirm/", reviews_views.confirm_view, name="identity-review-confirm"),
    path("account/identity-reviews/<int:pk>/reject/", reviews_views.reject_view, name="identity-review-reject"),
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
]
