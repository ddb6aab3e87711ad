from django.urls import URLPattern, URLResolver

app_name = "idme_sandbox"
urlpatterns: list[URLPattern | URLResolver] = []
