"""API access: personal access tokens for scripts and OAuth 2.0 apps of a practice
(issue 11; docs/api.md "Authentication").

Sits above providers (layer of mfa): it imports providers and audit, and providers never
imports it: the Security tab shows its section through `providers.security.register_section`
and password changes / "Sign out all other sessions" reach it through
`providers.security.api_credentials_must_end` (a signal).
"""
