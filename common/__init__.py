"""Small neutral helpers that both systems use: the EHR and the ID.me sandbox.

`common` imports no app of this repository (not `ehr`, not the EHR's apps, not
`idme_sandbox`): it sits below both, so the sandbox can run as its own service from its
own settings (`idme_sandbox.settings`). It is a plain package, not a Django app: it has no
models, migrations or templates. It reads Django settings only through
`django.conf.settings`, under these names:

- `FIELD_ENCRYPTION_KEYS` (default for `common.fields`), or whichever settings name an
  `EncryptedTextField(key_setting=...)` gives, e.g. the sandbox's `IDME_SANDBOX_ENCRYPTION_KEYS`;
- `DATA_UPLOAD_MAX_MEMORY_SIZE` (`common.middleware.RequestBodyLimitMiddleware`);
- the default cache (`common.throttle`).

Modules: `fields` (encrypted text field, encrypt/decrypt), `throttle` (`AttemptLimiter`),
`geography` (US state codes), `jsonbody` (the safe JSON reader), `middleware` (security and
cache headers, the request body limit), `envconfig` (environment helpers for settings modules),
`service_settings` (the security, static-file and logging settings both services set alike).
"""
