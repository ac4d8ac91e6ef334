"""The test Django project (`tests/django_project`: the `shopsite` settings and the `shop` app), set up once per
test session in the pytest process: Django's settings are the process's, so every test that serves a Django view
shares this one project (each with its own URLconf through `override_settings`)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).parent / "django_project"


def django_ready() -> None:
    """Django set up with the test shop's settings (an SQLite file of the session's own, migrated); once.

    Configured from the settings module's values rather than `DJANGO_SETTINGS_MODULE`, so the variable never
    reaches the `conveyor` processes other tests start (it would make them load this project)."""
    import django
    from django.conf import settings
    from django.core.management import call_command

    if settings.configured:
        return
    if str(PROJECT) not in sys.path:
        sys.path.insert(0, str(PROJECT))
    from shopsite import settings as shop  # tests/django_project, put on the path above

    values = {name: getattr(shop, name) for name in dir(shop) if name.isupper()}
    database = Path(tempfile.mkdtemp(prefix="conveyor-shop-")) / "shop.sqlite3"
    values["DATABASES"] = {"default": {**shop.DATABASES["default"], "NAME": str(database)}}
    settings.configure(**values)
    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0)
