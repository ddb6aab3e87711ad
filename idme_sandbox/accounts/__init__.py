"""ID.me sandbox accounts: sign-up, sign-in with MFA, account pages, method set-up."""
