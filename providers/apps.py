from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "Providers"

    def ready(self) -> None:
        from mfa.challenges import register_completion
        from providers import permissions_tasks, signals  # noqa: F401  (login auditing; EPCS sweep task)
        from providers.permissions_services import PURPOSE, complete_permission_challenge

        # The approver of an EPCS permission change completes 2FA through mfa.challenges.
        register_completion(PURPOSE, complete_permission_challenge)
