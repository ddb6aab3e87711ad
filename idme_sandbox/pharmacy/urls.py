from django.urls import URLPattern, URLResolver, path

from idme_sandbox.pharmacy import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.message_list, name="pharmacy-messages"),
    path("newrx", views.new_rx, name="pharmacy-newrx"),
    path("failure-mode", views.failure_mode, name="pharmacy-failure-mode"),
    path("messages/<str:ack_id>/", views.message_detail, name="pharmacy-message"),
]
