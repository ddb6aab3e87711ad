"""The sandbox operator: a sign-in for the pages that show every simulated person's data
(the message outbox and the pharmacy network). See docs/idme-sandbox.md."""
