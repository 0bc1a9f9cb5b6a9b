"""WSGI entry point (gunicorn vani.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vani.settings")

application = get_wsgi_application()

from django.conf import settings  # noqa: E402

from vani.database import install_wait_callback  # noqa: E402

install_wait_callback()  # no database wait may hold a web worker unbounded

if settings.IS_PRODUCTION:
    # gunicorn does not run system checks; production must fail closed, so run them here.
    from django.core import checks
    from django.core.exceptions import ImproperlyConfigured

    errors = [m for m in checks.run_checks() if m.is_serious()]
    if errors:
        raise ImproperlyConfigured("; ".join(str(e) for e in errors))
