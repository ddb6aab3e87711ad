from django.urls import URLPattern, URLResolver, path

from eprescribe import ceremony

app_name = "eprescribe"
urlpatterns: list[URLPattern | URLResolver] = [
    # The EPCS signing ceremony (eprescribe/ceremony.py).
    path("sign/", ceremony.ceremony_start, name="ceremony-start"),
    path("sign/<uuid:ceremony_id>/", ceremony.ceremony_page, name="ceremony"),
    path("sign/<uuid:ceremony_id>/code/", ceremony.ceremony_code, name="ceremony-code"),
    path("sign/<uuid:ceremony_id>/push/", ceremony.ceremony_push, name="ceremony-push"),
    path("sign/<uuid:ceremony_id>/cancel/", ceremony.ceremony_cancel, name="ceremony-cancel"),
    path("sign/<uuid:ceremony_id>/status/", ceremony.ceremony_status, name="ceremony-status"),
]
