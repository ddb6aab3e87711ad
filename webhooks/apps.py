from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import audit
        from webhooks import dispatch, tasks  # noqa: F401  (tasks: registers the Celery tasks)

        # audit calls this after every commit that recorded events; it imports nothing of ours.
        audit.subscribe(dispatch.on_audit_events)
