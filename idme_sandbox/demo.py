"""Demo ID.me accounts for `seed_idme_sandbox` (filled in with the account pages)."""

from __future__ import annotations

# Fixed so the EHR's demo providers can be linked to them without talking to the sandbox.
DEMO_ALICE_UUID = "5e0d1c2b3a4f4e5d8c7b6a5f4e3d2c1b"
DEMO_BRIAN_UUID = "6f1e2d3c4b5a4f6e9d8c7b6a5f4e3d2c"
DEMO_IDME_PASSWORD = "Demo-IDme-2026"
