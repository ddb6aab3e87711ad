from django.apps import AppConfig


class IdmeClientConfig(AppConfig):
    name = "idme_client"
    verbose_name = "ID.me client"
