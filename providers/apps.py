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

        from audit.services import register_chain_source
        from providers.models import Practice

        # The daily incident report is produced for every practice, also one with no events yet.
        register_chain_source("practices", lambda: Practice.objects.values_list("pk", flat=True))
