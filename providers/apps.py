from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "Providers"

    def ready(self) -> None:
        from providers import signals  # noqa: F401  (login auditing)
        from providers.credentials.section import CREDENTIALS_SECTION
        from providers.erx_info import register_section
        from providers.identity.section import IDENTITY_SECTION

        register_section(IDENTITY_SECTION)
        register_section(CREDENTIALS_SECTION)
