"""A simulated DEA registration registry (the DEA's CSA registration validation, sold as a
subscription through NTIS). Mounted at /idme-sandbox/dea-registry/ in the embedded default;
a JSON API for a subscriber's API key, no browser pages. Imports no EHR app. See docs/dea-registry.md.
"""
