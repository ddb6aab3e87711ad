from django.urls import URLPattern, URLResolver, path

from eprescribe import ceremony, views

app_name = "eprescribe"
urlpatterns: list[URLPattern | URLResolver] = [
    # Prescriptions (eprescribe/views.py)
    path("", views.prescription_list, name="prescriptions"),
    path("new/", views.prescription_new, name="new"),
    path("<int:pk>/", views.prescription_detail, name="detail"),
    path("<int:pk>/edit/", views.prescription_edit, name="edit"),
    path("<int:pk>/ready/", views.prescription_ready, name="ready"),
    path("<int:pk>/cancel/", views.prescription_cancel, name="cancel"),
    path("<int:pk>/retry/", views.prescription_retry, name="retry"),
    path("<int:pk>/print/", views.prescription_print, name="print"),
    # The EPCS signing ceremony (eprescribe/ceremony.py).
    path("sign/", ceremony.ceremony_start, name="ceremony-start"),
    path("sign/<uuid:ceremony_id>/", ceremony.ceremony_page, name="ceremony"),
    path("sign/<uuid:ceremony_id>/code/", ceremony.ceremony_code, name="ceremony-code"),
    path("sign/<uuid:ceremony_id>/push/", ceremony.ceremony_push, name="ceremony-push"),
    path("sign/<uuid:ceremony_id>/cancel/", ceremony.ceremony_cancel, name="ceremony-cancel"),
    path("sign/<uuid:ceremony_id>/status/", ceremony.ceremony_status, name="ceremony-status"),
]
