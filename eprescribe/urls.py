from django.urls import URLPattern, URLResolver

app_name = "eprescribe"
urlpatterns: list[URLPattern | URLResolver] = []
