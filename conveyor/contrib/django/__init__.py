"""Conveyor as a Django task backend (`pip install 'conveyor[django]'`): `TASKS = {"default": {"BACKEND":
"conveyor.contrib.django.TaskBackend"}}`, then Django's own `@task`, `.enqueue()` and `get_result()`.

Works with Django 6's `django.tasks` and with the `django-tasks` backport on Django 5.2. Workers host the
project's tasks with `conveyor worker --django SETTINGS` (or `DJANGO_SETTINGS_MODULE`); see the docs' Django page.
"""

from conveyor.contrib.django.backend import TaskBackend

__all__ = ["TaskBackend"]
