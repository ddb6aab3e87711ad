"""Outbound webhooks: a practice's registered endpoints hear of its audit events (issue 11;
docs/api.md "Webhooks").

The events are the audit trail's own: `audit.subscribe` tells this app of every committed
event, `webhooks.events` maps the audit actions integrators may hear of to webhook event
types, and a Celery task delivers each one, signed as the Standard Webhooks specification
describes, with retries and exponential backoff. audit never imports this app.
"""
