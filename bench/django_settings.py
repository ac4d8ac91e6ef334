"""The Django project of the bench's Django case: no apps, no database, one trivial task on Conveyor's backend.

conveyor worker --django bench.django_settings
"""

SECRET_KEY = "bench-only-secret-key"
USE_TZ = True
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
TASKS = {
    "default": {
        "BACKEND": "conveyor.contrib.django.TaskBackend",
        "QUEUES": ["default"],
        "OPTIONS": {"MODULES": ["bench.django_task"]},
    }
}
