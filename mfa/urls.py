from django.urls import URLPattern, URLResolver, path

from mfa import views

app_name = "mfa"
urlpatterns: list[URLPattern | URLResolver] = [
    path("devices/returned/", views.devices_returned, name="devices-returned"),
    path("devices/refresh/", views.refresh_devices, name="refresh"),
    path("devices/primary/", views.select_primary, name="select-primary"),
    path("help/change-phone/", views.help_change_phone, name="help-change-phone"),
]
