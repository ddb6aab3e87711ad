from django.urls import URLPattern, path

from idme_sandbox.operator import views

urlpatterns: list[URLPattern] = [
    path("operator/sign-in/", views.sign_in, name="operator_sign_in"),
    path("operator/sign-out/", views.sign_out, name="operator_sign_out"),
]
