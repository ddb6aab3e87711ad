from django.apps import AppConfig


class ApiAccessConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "api_access"
    verbose_name = "API access"

    def ready(self) -> None:
        from api_access import hooks, schema  # noqa: F401 - schema registers its extensions

        hooks.connect()
