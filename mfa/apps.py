from django.apps import AppConfig


class MfaConfig(AppConfig):
    name = "mfa"
    verbose_name = "MFA devices"

    def ready(self) -> None:
        # Registers the background device sync task (mfa/tasks.py holds the push poller).
        from mfa import device_tasks  # noqa: F401
