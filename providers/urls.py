from django.contrib.auth import views as auth_views
from django.urls import include, path

from providers import identity, identity_reviews_views, views
from providers.auth_views import ThrottledLoginView

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/reauthenticate/", views.reauthenticate, name="reauthenticate"),
    path("account/provider-settings/<slug:tab>/", views.provider_settings, name="provider-settings"),
    # Identity proofing with ID.me (providers/identity.py)
    path("account/idme/verify/", identity.verify_with_idme, name="idme-verify"),
    path("account/idme/callback/", identity.idme_callback, name="idme-callback"),
    # Identity mismatches reviewed by EPCS access managers (providers/identity_reviews.py)
    path("account/identity-reviews/", identity_reviews_views.reviews_page, name="identity-reviews"),
    path(
        "account/identity-reviews/<int:pk>/confirm/",
        identity_reviews_views.confirm_view,
        name="identity-review-confirm",
    ),
    path(
        "account/identity-reviews/<int:pk>/reject/", identity_reviews_views.reject_view, name="identity-review-reject"
    ),
    # Prescriber credentials and the EPCS Permissions Page (providers/permissions_urls.py)
    path("", include("providers.permissions_urls")),
]
