from django.apps import AppConfig


class EpcsAccessConfig(AppConfig):
    name = "epcs_access"
    verbose_name = "EPCS access"

    def ready(self) -> None:
        from epcs_access import tasks  # noqa: F401  (the daily EPCS sweep)
        from epcs_access.approvals import APPROVAL_SENTENCES, PURPOSE, complete_permission_challenge
        from epcs_access.erx_section import EPCS_SECTION
        from mfa.challenges import register_completion
        from providers.erx_info import register_section

        # The approver of an EPCS permission change completes 2FA through mfa.challenges.
        register_completion(PURPOSE, complete_permission_challenge, sentences=APPROVAL_SENTENCES)
        # eRx Info: EPCS status and "Report lost or stolen device", under the credentials.
        register_section(EPCS_SECTION)
