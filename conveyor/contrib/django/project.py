"""The Django project's tasks, declared in this process: named in `CONVEYOR_JOBS` by `conveyor worker --django`
(and `conveyor dev`), so the worker hosts them and every `conveyor` command knows their kinds.

Importing it sets Django up (`DJANGO_SETTINGS_MODULE`) and imports every installed app's `tasks` module, as
Celery's autodiscovery does, then the modules the backend's `OPTIONS["MODULES"]` names: each `@task` there is
validated by the backend, which declares its kind.
"""

from __future__ import annotations

import importlib

import django
from django.conf import settings
from django.utils.module_loading import autodiscover_modules

django.setup()
autodiscover_modules("tasks")
for backend in getattr(settings, "TASKS", {}).values():
    if backend.get("BACKEND") == "conveyor.contrib.django.TaskBackend":
        for module in backend.get("OPTIONS", {}).get("MODULES", ()):
            importlib.import_module(module)
