"""DEA registry routes, included by idme_sandbox/urls.py under dea-registry/."""

from django.urls import URLPattern, URLResolver, path, re_path

from idme_sandbox.dea_registry import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("v1/registrations/<str:number>", views.registration, name="dea-registry-registration"),
    re_path(r"^(?P<rest>.*)$", views.not_found, name="dea-registry-not-found"),
]
