"""The sandbox's OpenID Connect provider (ID.me's paths), built on authlib's server side."""
