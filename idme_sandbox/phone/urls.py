from django.urls import URLPattern, path

from idme_sandbox.phone import views

urlpatterns: list[URLPattern] = [
    path("phone/", views.phone_page, name="phone"),
    path("authenticator/api/pair", views.pair, name="phone_api_pair"),
    path("authenticator/api/pending", views.pending, name="phone_api_pending"),
    path("authenticator/api/answer", views.answer, name="phone_api_answer"),
]
