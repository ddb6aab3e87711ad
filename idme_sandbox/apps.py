from django.apps import AppConfig


class IdmeSandboxConfig(AppConfig):
    name = "idme_sandbox"
    verbose_name = "ID.me sandbox"

    def ready(self) -> None:
        from idme_sandbox.partner import signals

        signals.connect()
