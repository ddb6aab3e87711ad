"""A simulated pharmacy network: receives NCPDP SCRIPT-style NewRx messages over HTTP.

Mounted at /idme-sandbox/pharmacy-network/ in the embedded default; imports no EHR app.
"""
