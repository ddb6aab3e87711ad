from django.apps import AppConfig


class EprescribeConfig(AppConfig):
    name = "eprescribe"
    verbose_name = "e-Prescribing"

    def ready(self) -> None:
        # An approved "epcs_sign" 2FA challenge signs its ceremony's prescriptions.
        from eprescribe.ceremony_completion import register

        register()
