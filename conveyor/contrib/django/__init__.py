"""Conveyor as a Django task backend (`pip install 'conveyor[django]'`): `TASKS = {"default": {"BACKEND":
"conveyor.contrib.django.TaskBackend"}}`, then Django's own `@task`, `.enqueue()` and `get_result()`.

Works with Django 6's `django.tasks` and with the `django-tasks` backport on Django 5.2. Workers host the
project's tasks with `conveyor worker --django SETTINGS` (or `DJANGO_SETTINGS_MODULE`); see the docs' Django page.
`job_options(key=..., tenant=...)` gives the enqueues of a block what Django's API has no place for.
"""

from conveyor.contrib.django.backend import TaskBackend
from conveyor.contrib.django.options import job_options

__all__ = ["TaskBackend", "job_options"]
