"""The EPCS partner API the sandbox serves (docs/idme-api.md): devices, code checks, pushes."""
