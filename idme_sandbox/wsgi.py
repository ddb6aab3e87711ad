"""WSGI entry of the sandbox as its own service: `gunicorn idme_sandbox.wsgi`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "idme_sandbox.settings")
application = get_wsgi_application()
