from django.apps import AppConfig


class MfaConfig(AppConfig):
    name = "mfa"
    verbose_name = "MFA devices"

    def ready(self) -> None:
        # Registers the background device sync task (mfa/tasks.py holds the push poller).
        from mfa import device_tasks  # noqa: F401
        from mfa.erx_section import DEVICES_SECTION
        from providers.erx_info import register_section

        # eRx Info: the ID.Me Device Information section.
        register_section(DEVICES_SECTION)
