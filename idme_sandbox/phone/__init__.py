"""The simulated ID.me Authenticator: the phone page/API (views.py) and a command-line phone
(`python -m idme_sandbox.phone`, client.py) that needs no Django, only requests and cryptography."""
